// The update list and its DOM: #updates, and aside#pinned and nav#key-events beside it. An update
// that arrives live is a clone of a <template> that the server renders from the same macros of
// templates/_update.html as the page's own updates (`render_templates`, with a placeholder update
// that has every optional part), filled in here: the markup exists once, in _update.html.

import { announceUpdate } from './announce.js';
import { isAfter, parseId } from './stream.js';
import { refreshTimes } from './times.js';

const ID = '__ID__'; // the placeholder update's ID in the templates
const FLASH_MS = 2500;
const ANNOUNCE_CHARS = 90; // an untitled update is announced by this much of its text

const templateOf = (name) => document.getElementById(`${name}-template`);

/** A copy of the element in <template> `source`, with the update's ID in its attributes. */
function clone(source, id) {
  const node = source.content.firstElementChild.cloneNode(true);
  for (const element of [node, ...node.querySelectorAll('*')]) {
    for (const attribute of element.attributes) {
      if (attribute.value.includes(ID)) attribute.value = attribute.value.replaceAll(ID, id);
    }
  }
  return node;
}

/** Leave out an optional part with the line break before it, as the page's markup does. */
function drop(node) {
  const before = node.previousSibling;
  if (before?.nodeType === Node.TEXT_NODE && before.textContent.trim() === '') before.remove();
  node.remove();
}

function fill(node, text) {
  if (text) node.textContent = text;
  else drop(node);
}

/** The text of sanitized update HTML, whitespace collapsed (Jinja's `striptags`). */
function textOf(html) {
  const template = document.createElement('template'); // inert: nothing loads or runs
  template.innerHTML = html ?? '';
  return (template.content.textContent || '').replace(/\s+/g, ' ').trim();
}

/** Jinja's `truncate(length, false, "…", 0)`: cut at a word boundary (_update.html: first_words). */
export function firstWords(html, length) {
  const text = textOf(html);
  if (text.length <= length) return text;
  const cut = text.slice(0, length - 1);
  const space = cut.lastIndexOf(' ');
  return `${space === -1 ? cut : cut.slice(0, space)}…`;
}

/** _update.html's render_update(update, blog). */
function renderArticle(update) {
  const article = clone(templateOf('update'), String(update.id));
  article.classList.toggle('key-event', Boolean(update.key_event));
  article.classList.toggle('pinned', Boolean(update.pinned));
  if (!update.pinned) drop(article.querySelector('.badge-pinned'));
  if (!update.key_event) drop(article.querySelector('.badge-key-event'));
  article.querySelector('.update-time').setAttribute('datetime', update.published_at ?? '');
  article.querySelector('.update-ago').dataset.since = update.published_at ?? '';
  fill(article.querySelector('.update-title'), update.title);
  // Named by its time and title, by its time alone without one (_update.html).
  if (!update.title) article.setAttribute('aria-labelledby', `update-${update.id}-time`);
  article.querySelector('.update-body').innerHTML = update.html ?? ''; // sanitized server-side (nh3)
  const { image } = update;
  const figure = article.querySelector('.update-image');
  if (typeof image?.url === 'string' && /^(https:\/\/|\/media\/)/i.test(image.url)) {
    const img = figure.querySelector('img');
    img.setAttribute('src', image.url);
    img.setAttribute('alt', image.alt ?? '');
    if (Array.isArray(image.srcset) && image.srcset.length) { // an upload: the template has its `sizes`
      img.setAttribute('srcset', image.srcset.map((s) => `${s.url} ${Number(s.width)}w`).join(', '));
    } else {
      img.removeAttribute('srcset');
      img.removeAttribute('sizes');
    }
    for (const side of ['width', 'height']) {
      if (image.width && image.height) img.setAttribute(side, String(Number(image[side])));
      else img.removeAttribute(side);
    }
    const caption = figure.querySelector('figcaption');
    fill(caption.querySelector('.image-caption'), image.caption);
    fill(caption.querySelector('.image-credit'), image.credit);
    if (!image.caption && !image.credit) drop(caption);
  } else {
    drop(figure);
  }
  const byline = article.querySelector('.update-byline');
  if (update.author?.name) {
    const author = byline.querySelector('.update-author');
    author.textContent = update.author.name;
    author.dataset.kind = update.author.kind || 'editor';
    const { avatar } = update.author; // people.py: an https URL or a /media/... path
    const img = byline.querySelector('.update-avatar');
    if (typeof avatar === 'string' && /^(https:\/\/|\/media\/)/i.test(avatar)) img.setAttribute('src', avatar);
    else drop(img);
  } else {
    drop(byline);
  }
  const edited = article.querySelector('.update-edited');
  if (update.updated_at && update.updated_at !== update.published_at) {
    edited.querySelector('time').setAttribute('datetime', update.updated_at);
  } else {
    drop(edited);
  }
  article.querySelector('.update-share').hidden = false;
  refreshTimes(article);
  return article;
}

/** _update.html's render_pinned or render_key_event (kind 'pinned' or 'key-event'). */
function renderEntry(kind, update) {
  const source = templateOf(kind);
  const { titleChars, excerptChars } = source.dataset; // _update.html's lengths
  const item = clone(source, String(update.id));
  item.querySelector('time').setAttribute('datetime', update.published_at ?? '');
  item.querySelector(`.${kind}-title`).textContent = update.title || firstWords(update.html, Number(titleChars));
  const excerpt = item.querySelector('.pinned-excerpt');
  if (excerpt && update.title) excerpt.textContent = firstWords(update.html, Number(excerptChars));
  else if (excerpt) drop(excerpt);
  refreshTimes(item);
  return item;
}

function flash(article, className) {
  article.classList.add(className);
  setTimeout(() => article.classList.remove(className), FLASH_MS);
}

/** An update from the server or the stream that the list can show: one with a stream ID. */
export const valid = (update) => Boolean(update) && parseId(update.id) !== null;

/**
 * aside#pinned or nav#key-events: one entry per update that `wants`, newest first, hidden when
 * empty. It may list updates older than the ones on the page (the server's choice).
 */
class UpdateIndex {
  constructor(root, kind, wants) {
    this.root = root;
    this.items = root.querySelector('ul, ol');
    this.kind = kind;
    this.wants = wants;
  }

  entry(id) {
    return [...this.items.children].find((item) => item.dataset.updateId === id) ?? null;
  }

  sync(update) {
    const id = String(update.id);
    const existing = this.entry(id);
    if (!this.wants(update)) {
      existing?.remove();
    } else {
      const fresh = renderEntry(this.kind, update);
      if (existing) {
        if (!existing.isEqualNode(fresh)) existing.replaceWith(fresh); // keep focus when unchanged
      } else {
        const older = [...this.items.children].find((item) => isAfter(id, item.dataset.updateId));
        this.items.insertBefore(fresh, older ?? null);
      }
    }
    this.render();
  }

  remove(id) {
    this.entry(id)?.remove();
    this.render();
  }

  /**
   * After a reload of `updates` (newest first, the page before `before` or the newest; `last`:
   * nothing is older than them).
   */
  resync(updates, before, last) {
    const ids = new Set(updates.map((u) => String(u.id)));
    const oldest = updates.length && !last ? String(updates[updates.length - 1].id) : null;
    for (const item of [...this.items.children]) {
      const id = item.dataset.updateId;
      // In the range the reload covers but not in it: deleted meanwhile. Outside it: unknown, kept.
      const covered = (oldest === null || !isAfter(oldest, id)) && (before === null || isAfter(before, id));
      if (covered && !ids.has(id)) item.remove();
    }
    for (const update of updates) this.sync(update);
    this.render();
  }

  render() {
    this.root.hidden = this.items.children.length === 0;
  }
}

/**
 * #updates, newest first (or oldest first), every update or key events only (as the server
 * rendered it: #updates.key-events-only), with the pinned and key-events lists in step.
 */
export class UpdateList {
  constructor(list, oldestFirst = false) {
    this.list = list;
    this.oldestFirst = oldestFirst;
    this.empty = document.getElementById('no-updates');
    const pinned = document.getElementById('pinned');
    const keyEvents = document.getElementById('key-events');
    this.indexes = [
      pinned && new UpdateIndex(pinned, 'pinned', (u) => Boolean(u.pinned)),
      keyEvents && new UpdateIndex(keyEvents, 'key-event', (u) => Boolean(u.key_event)),
    ].filter(Boolean);
  }

  find(id) {
    const node = document.getElementById(`update-${id}`);
    return node && node.parentElement === this.list ? node : null;
  }

  /**
   * A new update at the top (at the bottom when oldest first), announced in a few words unless
   * `quiet` or the list reads out its changes itself (an aria-live list: the desk's).
   */
  insert(update, { quiet = false } = {}) {
    const article = renderArticle(update);
    if (this.oldestFirst) this.list.append(article);
    else this.list.prepend(article);
    flash(article, 'is-new');
    this.renderEmpty();
    if (!quiet && !this.list.closest('[aria-live]')) {
      announceUpdate(update.title || firstWords(update.html, ANNOUNCE_CHARS));
    }
  }

  replace(existing, update) {
    const article = renderArticle(update);
    existing.replaceWith(article);
    flash(article, 'is-edited');
  }

  /**
   * Put an update the list does not show where its ID places it among the loaded ones. False
   * when it is newer than them all (the caller shows it as a new one) or older than them all
   * while "Load more" (or the desk's "Older" page, #updates[data-older]) has more (it waits for
   * that page).
   */
  place(update) {
    const id = String(update.id);
    const items = [...this.list.children].filter((item) => item.dataset.updateId);
    if (items.every((item) => isAfter(id, item.dataset.updateId))) return false;
    const next = this.oldestFirst
      ? items.find((item) => isAfter(item.dataset.updateId, id))
      : items.find((item) => isAfter(id, item.dataset.updateId));
    const more = document.getElementById('load-more') !== null || this.list.dataset.older !== undefined;
    if (more && (next === undefined || (this.oldestFirst && next === items[0]))) return true;
    const article = renderArticle(update);
    if (next) next.before(article);
    else this.list.append(article);
    flash(article, 'is-edited');
    this.renderEmpty();
    return true;
  }

  remove(id) {
    this.find(id)?.remove();
    for (const index of this.indexes) index.remove(id);
    this.renderEmpty();
  }

  /** The pinned and key-events lists follow the update's flags. */
  index(update) {
    for (const index of this.indexes) index.sync(update);
  }

  /**
   * The whole list from a reload or a change of view: `updates` in the order shown, the page
   * before `before` or the newest; `last`: the API has nothing older. A page of key events only,
   * or of oldest first, covers no range of every update: the side lists then only gain.
   */
  renderAll(updates, before, last) {
    const shown = updates.filter(valid);
    this.list.replaceChildren(...shown.map(renderArticle));
    const newestFirst = this.oldestFirst ? [...shown].reverse() : shown;
    for (const index of this.indexes) {
      if (this.oldestFirst || this.keyEventsOnly) for (const update of shown) index.sync(update);
      else index.resync(newestFirst, before, last);
    }
    this.renderEmpty();
  }

  /** The next page in the order shown ("Load more"): below the list. */
  addPage(updates) {
    for (const update of updates) {
      if (!valid(update) || this.find(String(update.id))) continue;
      this.list.append(renderArticle(update));
      this.index(update);
    }
    this.renderEmpty();
  }

  /** Take an update off the list alone (it left the view: no longer a key event). */
  drop(id) {
    this.find(id)?.remove();
    this.renderEmpty();
  }

  /** The view's order; the caller renders the list anew. */
  setOldestFirst(on) {
    document.getElementById('order-toggle')?.setAttribute('aria-pressed', String(on));
    this.oldestFirst = on;
  }

  get keyEventsOnly() {
    return this.list.classList.contains('key-events-only');
  }

  setKeyEventsOnly(on) {
    this.list.classList.toggle('key-events-only', on);
    document.getElementById('key-events-toggle')?.setAttribute('aria-pressed', String(on));
  }

  renderEmpty() {
    if (this.empty) this.empty.hidden = this.list.querySelector('.update') !== null;
  }
}
