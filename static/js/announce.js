// A polite status region for what the reader does not see happen: held updates, "Link copied", and
// each live update in a few words ("New update: ..."), so that a screen reader does not read out
// whole articles as they arrive.

import { plural, t } from './strings.js';

export function setupAnnouncer() {
  if (document.getElementById('announcer')) return;
  const region = document.createElement('div');
  region.className = 'visually-hidden';
  region.id = 'announcer';
  region.setAttribute('role', 'status');
  document.body.append(region);
}

/** Say `message` through the region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = ''; // the same message twice is read twice
  setTimeout(() => { region.textContent = message; }, 50);
}

const BURST_MS = 500; // updates arriving closer together than this: one announcement for them all
let burst = [];
let burstTimer = 0;

/** Say that an update arrived: `words`, its title or first words; several at once: how many. */
export function announceUpdate(words) {
  burst.push(words);
  clearTimeout(burstTimer);
  burstTimer = setTimeout(() => {
    const count = burst.length;
    announce(count === 1 ? t('newUpdate', { words: burst[0] }) : plural('newUpdates', count));
    burst = [];
  }, BURST_MS);
}
