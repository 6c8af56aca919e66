// The interface's words in the page's language: the JSON that the server renders from its message
// catalogs into script#lb-strings (liveblog/i18n.py: client_strings; a JSON block is not run, so
// the CSP allows it). Every page carries it: base.html renders it.

// The desk's pages add their own (script#lb-desk-strings: "desk.*").
const STRINGS = {};
for (const id of ['lb-strings', 'lb-desk-strings']) {
  const block = document.getElementById(id);
  if (block) Object.assign(STRINGS, JSON.parse(block.textContent || '{}'));
}

/** The page's language (<html lang>) for Intl's formats: the reader's own variant of it when the
 * browser prefers one ("en-GB" on an English page), else the page's. */
const pageLang = document.documentElement.lang || undefined;
export const LANG = (pageLang && (navigator.languages || []).find((tag) => tag.split('-')[0] === pageLang)) || pageLang;

function fill(message, values) {
  return String(message ?? '').replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** The message `key` (a dotted path: "status.live"), its %(name)s placeholders filled from `values`. */
export function t(key, values = {}) {
  const message = key.split('.').reduce((node, part) => node?.[part], STRINGS);
  return fill(message ?? key, values);
}

const rules = new Intl.PluralRules(LANG);
const numbers = new Intl.NumberFormat(LANG);

/** The plural message `key` for `count` (its forms keyed by CLDR plural category). */
export function plural(key, count) {
  const forms = STRINGS[key] || {};
  const message = forms[rules.select(count)] ?? forms.other ?? key;
  return fill(message, { num: numbers.format(count) });
}
