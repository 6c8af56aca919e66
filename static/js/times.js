// Times on every page: each time[datetime] in the reader's local time ("14:05" today, "24 Apr,
// 14:05" on another day), and each .update-ago as a relative time ("5 min ago",
// Intl.RelativeTimeFormat), refreshed every 30 s; both in the page's language (strings.js: LANG).
// The server renders HH:MM UTC (in the page's language) and leaves .update-ago empty, so that a page's bytes (and so its ETag) do not depend on the clock.

import { LANG } from './strings.js';

const REFRESH_MS = 30000; // "5 min ago" and "today or another day" go stale
const MINUTE_MS = 60000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

const timeOnly = new Intl.DateTimeFormat(LANG, { hour: '2-digit', minute: '2-digit' });
const dayAndTime = new Intl.DateTimeFormat(LANG, {
  day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
});
const fullDate = new Intl.DateTimeFormat(LANG, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
});
const tooltip = new Intl.DateTimeFormat(LANG, { dateStyle: 'full', timeStyle: 'long' });
const relative = new Intl.RelativeTimeFormat(LANG, { style: 'short' });
const NOW = new Intl.RelativeTimeFormat(LANG, { numeric: 'auto' }).format(0, 'second');

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Show `time`'s datetime in local time, with the full date and zone as its tooltip. */
export function localise(time) {
  const date = new Date(time.getAttribute('datetime') || '');
  if (Number.isNaN(date.getTime())) return;
  const now = new Date();
  let format = timeOnly;
  if (date.getFullYear() !== now.getFullYear()) format = fullDate;
  else if (time.dataset.format === 'datetime' || !sameDay(date, now)) format = dayAndTime;
  // Only real changes: the list is an aria-live region, and a text change there is read out.
  const text = format.format(date);
  if (time.textContent !== text) time.textContent = text;
  const title = tooltip.format(date);
  if (time.title !== title) time.title = title;
}

/** "now", "5 min ago", "2 hr ago", "3 days ago" (a clock a little behind the server's: "now"). */
function ago(date, now) {
  const ms = now - date.getTime();
  if (ms < MINUTE_MS) return NOW;
  if (ms < HOUR_MS) return relative.format(-Math.floor(ms / MINUTE_MS), 'minute');
  if (ms < DAY_MS) return relative.format(-Math.floor(ms / HOUR_MS), 'hour');
  return relative.format(-Math.floor(ms / DAY_MS), 'day');
}

/** Localise the times under `root` and fill its .update-ago spans. */
export function refreshTimes(root) {
  for (const time of root.querySelectorAll('time[datetime]')) localise(time);
  const now = Date.now();
  for (const span of root.querySelectorAll('.update-ago[data-since]')) {
    const date = new Date(span.dataset.since);
    const text = Number.isNaN(date.getTime()) ? '' : ago(date, now);
    if (span.textContent !== text) span.textContent = text;
  }
}

export function keepTimesFresh() {
  refreshTimes(document);
  setInterval(() => refreshTimes(document), REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refreshTimes(document);
  });
}
