// The "N new updates" pill (#new-updates) and the reader's preferences. A reader who has scrolled
// down is not moved: new updates wait behind the pill until it is clicked. Oldest first and key
// events only are remembered in localStorage.

import { announce } from './announce.js';
import { plural } from './strings.js';

const HOLD_BELOW_PX = 200; // scrolled further than this: new updates wait behind the pill
const ANNOUNCE_DELAY_MS = 1000; // several held updates in a burst: one announcement
const PREFS_KEY = 'liveblog:prefs';

export class Pill {
  /** `updates`: the UpdateList; `before`: the older page shown, or null on the live page. */
  constructor(button, updates, before) {
    this.button = button;
    this.updates = updates;
    this.before = before;
    this.pending = new Map(); // update id -> update, in arrival order (oldest first)
    this.announceTimer = 0;
    button?.addEventListener('click', () => this.show());
  }

  /** True when a new update should wait behind the pill rather than move the page. */
  holding() {
    if (this.before !== null) return true; // an older page: the newest are not shown here at all
    if (this.updates.list.dataset.hold === 'off') return false; // read each time: it may be set later
    return !this.updates.oldestFirst && window.scrollY > HOLD_BELOW_PX;
  }

  has(id) {
    return this.pending.has(id);
  }

  /** Keep `update` behind the pill (a newer version of one held replaces it in place). */
  hold(update) {
    const id = String(update.id);
    const fresh = !this.pending.has(id);
    this.pending.set(id, update);
    if (fresh) this.render();
  }

  forget(id) {
    if (this.pending.delete(id)) this.render();
  }

  clear() {
    this.pending.clear();
    this.render();
  }

  /** Show the held updates in the list. */
  flush() {
    if (this.pending.size === 0) return;
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const update of held) {
      // Not announced one by one: the pill has said how many there are.
      if (!this.updates.find(String(update.id))) this.updates.insert(update, { quiet: true });
    }
    this.render();
  }

  show() {
    if (this.before !== null) {
      // On an older page the newest updates are not in the list: go to the live page.
      window.location.assign(window.location.pathname);
      return;
    }
    this.flush();
    window.scrollTo(0, 0);
  }

  render() {
    if (!this.button) return;
    const count = this.pending.size;
    const text = plural('newUpdates', count);
    // The text beside the button's icon (blog.html); the button alone on an older markup.
    (this.button.querySelector('.new-updates-text') ?? this.button).textContent = text;
    this.button.hidden = count === 0;
    // The held updates are outside the live list: say that they are there, once per burst.
    clearTimeout(this.announceTimer);
    if (count > 0) this.announceTimer = setTimeout(() => announce(text), ANNOUNCE_DELAY_MS);
  }
}

function readPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function writePrefs(prefs) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // private mode or storage full: the preference lasts for this page only
  }
}

/** #reader-controls: "Oldest first" and "Key events only", remembered across visits. */
export function setupPreferences(updates, pill) {
  const controls = document.getElementById('reader-controls');
  const order = document.getElementById('order-toggle');
  const keyOnly = document.getElementById('key-events-toggle');
  if (!controls || !order || !keyOnly) return;
  const setOldestFirst = (on) => {
    updates.setOldestFirst(on);
    if (on) pill.flush(); // new updates go to the bottom now: nothing moves the page
  };
  const save = () => writePrefs({ oldestFirst: updates.oldestFirst, keyEventsOnly: updates.keyEventsOnly });
  order.addEventListener('click', () => {
    setOldestFirst(!updates.oldestFirst);
    save();
  });
  keyOnly.addEventListener('click', () => {
    updates.setKeyEventsOnly(!updates.keyEventsOnly);
    save();
  });
  const prefs = readPrefs();
  if (prefs.oldestFirst) setOldestFirst(true);
  if (prefs.keyEventsOnly) updates.setKeyEventsOnly(true);
  controls.hidden = false;
}
