// The scores of Lighthouse JSON reports (tools/lighthouse/run): one row per report, the median of
// each form factor's runs held to the targets, and the audits that cost points. Exits 1 when a
// median misses its target.
//
//   node scores.mjs var/lighthouse/desktop-1.json var/lighthouse/mobile-1.json ...

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const TARGETS = {
  desktop: { performance: 100, accessibility: 100, 'best-practices': 100, seo: 100 },
  mobile: { performance: 95, accessibility: 100, 'best-practices': 100, seo: 100 },
};

const score = (category) => (category && category.score !== null ? Math.round(category.score * 100) : 0);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : Math.round((sorted[middle - 1] + sorted[middle]) / 2);
};
const row = (cells) => cells.map((cell, i) => String(cell).padEnd(i === 0 ? 18 : 15)).join('');

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node scores.mjs REPORT.json ...');
  process.exit(2);
}
const byForm = { desktop: [], mobile: [] };
const lost = new Map(); // "form category: audit" -> the title and the worst score seen
console.log(row(['report', ...CATEGORIES]));
for (const file of files) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const form = report.configSettings.formFactor === 'desktop' ? 'desktop' : 'mobile';
  const scores = Object.fromEntries(CATEGORIES.map((id) => [id, score(report.categories[id])]));
  byForm[form].push(scores);
  console.log(row([basename(file, '.json'), ...CATEGORIES.map((id) => scores[id])]));
  for (const id of CATEGORIES) {
    for (const ref of report.categories[id]?.auditRefs ?? []) {
      const audit = report.audits[ref.id];
      if (ref.weight > 0 && audit && audit.score !== null && audit.score < 1) {
        const key = `${form} ${id}: ${ref.id}`;
        const seen = lost.get(key);
        if (!seen || audit.score < seen.score) {
          lost.set(key, { score: audit.score, text: audit.displayValue || audit.title });
        }
      }
    }
  }
}

let failed = false;
for (const [form, runs] of Object.entries(byForm)) {
  if (runs.length === 0) continue;
  const medians = CATEGORIES.map((id) => median(runs.map((scores) => scores[id])));
  const misses = CATEGORIES.filter((id, i) => medians[i] < TARGETS[form][id]);
  const label = runs.length > 1 ? `${form} (median)` : form;
  console.log(row([label, ...medians.map((m, i) => `${m}${m < TARGETS[form][CATEGORIES[i]] ? ' (<' + TARGETS[form][CATEGORIES[i]] + ')' : ''}`)]));
  if (misses.length) failed = true;
}
if (lost.size) {
  console.log('\naudits below 1 (the worst run):');
  for (const [key, { score: value, text }] of lost) console.log(`  ${key} ${value.toFixed(2)} ${text}`);
}
console.log(failed ? '\nBELOW TARGET (desktop 100 each; mobile performance >= 95, others 100)' : '\non target');
process.exit(failed ? 1 : 0);
