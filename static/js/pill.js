// The "N new updates" pill (#new-updates) and the reader's preferences. A reader who has scrolled
// down is not moved: new updates wait behind the pill until it is clicked. Oldest first, new
// updates go at the end once the reader has reached it (no "Load more" below); before that they
// wait behind the pill, whose click loads the next page ("Load more") and scrolls to it. Oldest
// first and key events only are remembered in localStorage, and a page whose URL says neither
// (?order=, ?key_events=) switches to them.

import { announce } from './announce.js';
import { plainClick } from './paging.js';
import { plural } from './strings.js';

const HOLD_BELOW_PX = 200; // scrolled further than this: new updates wait behind the pill
const ANNOUNCE_DELAY_MS = 1000; // several held updates in a burst: one announcement
const PREFS_KEY = 'liveblog:prefs';

export class Pill {
  /**
   * `updates`: the UpdateList; `before`: the cursor of the page shown (?before= or ?after=), or
   * null on the first page; `more`: loads the next page (paging.js's loadMore).
   */
  constructor(button, updates, before, more = async () => true) {
    this.button = button;
    this.updates = updates;
    this.before = before;
    this.more = more;
    this.pending = new Map(); // update id -> update, in arrival order (oldest first)
    this.announceTimer = 0;
    button?.addEventListener('click', () => this.show());
  }

  /** True when a new update should wait behind the pill rather than move the page. */
  holding() {
    // Oldest first: the end of the list is the newest; not there yet, "Load more" brings them.
    if (this.updates.oldestFirst) return document.getElementById('load-more') !== null;
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

  /** After a page was added: forget the held updates it brought; at the end, show the rest. */
  settle() {
    for (const id of [...this.pending.keys()]) if (this.updates.find(id)) this.pending.delete(id);
    if (!this.holding()) this.flush();
    this.render();
  }

  async show() {
    if (this.updates.oldestFirst) {
      await this.more();
      this.settle();
      (document.getElementById('load-more') ?? this.updates.list.lastElementChild)?.scrollIntoView({ block: 'end' });
      return;
    }
    if (this.before !== null) {
      // On an older page the newest updates are not in the list: go to the live page, same view.
      const params = new URLSearchParams(window.location.search);
      params.delete('before');
      params.delete('after');
      window.location.assign(window.location.pathname + (params.size ? `?${params}` : ''));
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

/**
 * #reader-controls: "Oldest first" and "Key events only", links to the page in the other view
 * (they work without JavaScript); here `change(view)` shows it in place. The choice is
 * remembered, and applied on a page whose URL names no view (`view`: the page's, paging.js).
 */
export function setupPreferences(view, change) {
  const controls = document.getElementById('reader-controls');
  const order = document.getElementById('order-toggle');
  const keyOnly = document.getElementById('key-events-toggle');
  if (!controls || !order || !keyOnly) return;
  let current = { ...view };
  const apply = async (next) => {
    current = { ...next, before: null, after: null };
    writePrefs({ oldestFirst: current.oldest, keyEventsOnly: current.keyEvents });
    await change(current);
  };
  const toggle = (event, field) => {
    if (!plainClick(event)) return;
    event.preventDefault();
    apply({ ...current, [field]: !current[field] });
  };
  for (const [link, field] of [[order, 'oldest'], [keyOnly, 'keyEvents']]) {
    link.addEventListener('click', (event) => toggle(event, field));
    link.addEventListener('keydown', (event) => { // role="button": Space presses it, as Enter does
      if (event.key !== ' ') return;
      event.preventDefault();
      link.click();
    });
  }
  const params = new URLSearchParams(window.location.search);
  if (params.has('order') || params.has('key_events') || params.has('before') || params.has('after')) return;
  const prefs = readPrefs();
  if (Boolean(prefs.oldestFirst) !== view.oldest || Boolean(prefs.keyEventsOnly) !== view.keyEvents) {
    apply({ ...view, oldest: Boolean(prefs.oldestFirst), keyEvents: Boolean(prefs.keyEventsOnly) });
  }
}
