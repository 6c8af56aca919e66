// liveblog reader client, the entry module: plain ES modules, no build step, no dependencies.
//
// Every page gets its <time> elements in the reader's local time, a relative time in each
// .update-ago, working .update-share buttons and embed cards that load on a click (embeds.js).
// On a page with #updates[data-blog] it follows
// the blog's event stream (stream.js: SSE, or a WebSocket when data-transport="ws"), keeps the
// list, the pinned and key-events lists (updates.js), the pill and preferences (pill.js) and
// "Load more" (paging.js) in step, and honours #updates[data-hold="off"] (never hold new updates
// behind the pill).

import { setupAnnouncer } from './announce.js';
import { setupEmbeds } from './embeds.js';
import { setupFrame } from './frame.js';
import {
  fetchUpdates, getJSON, loadMore, nextQuery, plainClick, queryOf, setNextPage, setupLoadMore, viewOf,
} from './paging.js';
import { Pill, setupPreferences } from './pill.js';
import { setupPermalink } from './permalink.js';
import { setupSharing } from './share.js';
import { EVENT, isAfter, Stream } from './stream.js';
import { t } from './strings.js';
import { keepTimesFresh, localise } from './times.js';
import { UpdateList, valid } from './updates.js';

class Reader {
  constructor(list) {
    this.slug = list.dataset.blog;
    this.api = `/api/v1/blogs/${encodeURIComponent(this.slug)}`;
    this.view = viewOf(window.location.search); // order, key events only, the page's cursor
    this.before = this.view.before ?? this.view.after; // a page other than the first
    this.updates = new UpdateList(list, this.view.oldest);
    this.pill = new Pill(document.getElementById('new-updates'), this.updates, this.before, () => this.more());
    this.held = null; // events that arrive while the view changes, applied after it
    this.status = document.getElementById('live-status');
    this.blogStatus = this.status?.dataset.state === 'ended' ? 'ended' : 'live';
    this.connection = 'live';
    this.stream = new Stream(
      { api: this.api, slug: this.slug, lastId: list.dataset.lastEventId, socket: list.dataset.transport === 'ws' },
      {
        onEvent: (data) => this.apply(data),
        onReset: () => this.reload(),
        onState: (state) => this.setConnection(state),
      },
    );
  }

  start() {
    setupPreferences(this.view, (view) => this.switchView(view));
    setupLoadMore(this.api, this.updates, () => this.pill.settle());
    this.setupIndexLinks();
    this.stream.start();
  }

  apply(data) {
    if (this.held) {
      this.held.push(data);
      return;
    }
    const { update } = data;
    if (data.type === EVENT.published && valid(update)) this.published(update);
    else if (data.type === EVENT.edited && valid(update)) this.edited(update);
    else if (data.type === EVENT.deleted && valid(update)) this.deleted(String(update.id));
    else if (data.type === EVENT.blogUpdated && data.meta) this.applyMeta(data.meta);
  }

  /** Key events only: is `update` one this view shows? */
  shows(update) {
    return !this.view.keyEvents || Boolean(update.key_event);
  }

  more() {
    return loadMore(this.api, this.updates);
  }

  published(update) {
    const id = String(update.id);
    const existing = this.updates.find(id);
    if (!this.shows(update)) {
      this.updates.index(update); // the side lists still follow it
      return;
    }
    if (existing) {
      this.updates.replace(existing, update);
    } else if (this.pill.has(id) || this.pill.holding()) {
      this.pill.hold(update);
    } else {
      this.pill.flush();
      this.updates.insert(update);
      this.touch(update);
    }
    this.updates.index(update);
  }

  /**
   * An edit of an update this page does not show is one whose publication it never got (an edit
   * takes the update's earlier events out of the stream): it goes where its ID places it.
   */
  edited(update) {
    const id = String(update.id);
    const existing = this.updates.find(id);
    if (!this.shows(update)) { // no longer a key event: it leaves this view
      this.pill.forget(id);
      this.updates.drop(id);
    } else if (existing) this.updates.replace(existing, update);
    else if (this.pill.has(id)) this.pill.hold(update);
    else if (!this.updates.place(update)) this.published(update); // the newest: as if just published
    this.touch(update);
    this.updates.index(update); // also one older than the list: the server may list it as pinned
  }

  deleted(id) {
    this.pill.forget(id);
    this.updates.remove(id);
  }

  /** Reload the state after a `reset`; resolves to the last event ID it holds. */
  async reload() {
    const [page, meta] = await Promise.all([
      fetchUpdates(this.api, this.view),
      getJSON(this.api).catch(() => null),
    ]);
    this.pill.clear();
    this.updates.renderAll(page.updates, this.view.before, (page.next_before ?? null) === null);
    setNextPage(this.updates.list, nextQuery(page));
    if (meta) this.applyMeta(meta);
    return page.last_event_id;
  }

  /**
   * Show the first page of another view (order, key events only) from the API, in place, and
   * make the address say it. Events that arrive meanwhile wait, then those newer than the page
   * are applied: none lost, none twice.
   */
  async switchView(view) {
    this.held = this.held ?? [];
    let page;
    try {
      page = await fetchUpdates(this.api, view);
    } catch {
      window.location.assign(window.location.pathname + queryOf(view)); // the server renders it
      return;
    }
    this.view = view;
    this.before = null;
    this.pill.before = null;
    this.pill.clear();
    this.updates.setOldestFirst(view.oldest);
    this.updates.setKeyEventsOnly(view.keyEvents);
    this.updates.renderAll(page.updates, null, (page.next_before ?? null) === null);
    setNextPage(this.updates.list, nextQuery(page));
    const path = window.location.pathname;
    window.history.replaceState(null, '', path + queryOf(view));
    document.getElementById('order-toggle')?.setAttribute('href', path + queryOf({ ...view, oldest: !view.oldest }));
    document.getElementById('key-events-toggle')
      ?.setAttribute('href', path + queryOf({ ...view, keyEvents: !view.keyEvents }));
    const held = this.held;
    this.held = null;
    for (const data of held) {
      if (typeof data.id === 'string' && isAfter(data.id, page.last_event_id)) this.apply(data);
    }
  }

  // ---- the blog's header

  /** The page's "Updated" time follows the newest change. */
  touch(update) {
    this.setUpdated(update.updated_at || update.published_at);
  }

  setUpdated(when) {
    const time = document.getElementById('blog-updated');
    if (time && when) {
      time.setAttribute('datetime', when);
      localise(time);
    }
  }

  applyMeta(meta) {
    const title = document.getElementById('blog-title');
    if (typeof meta.title === 'string' && title) {
      title.textContent = meta.title;
      document.title = `${meta.title} — liveblog`;
    }
    const description = document.getElementById('blog-description');
    if (typeof meta.description === 'string' && description) {
      description.textContent = meta.description;
      description.hidden = meta.description === '';
    }
    if (meta.status === 'live' || meta.status === 'ended') {
      this.blogStatus = meta.status;
      this.renderStatus();
    }
    this.setUpdated(meta.updated_at);
  }

  setConnection(state) {
    if (state === 'gone') this.blogStatus = 'ended'; // the blog was deleted: nothing to follow any more
    else this.connection = state;
    this.renderStatus();
  }

  renderStatus() {
    if (!this.status) return;
    const state = this.blogStatus === 'ended' ? 'ended' : this.connection;
    const text = t(`status.${state}`);
    if (this.status.textContent !== text) this.status.textContent = text;
    this.status.dataset.state = state;
  }

  /**
   * Links of the pinned and key-events lists: release the update if it waits behind the pill,
   * show it if "Key events only" hides it, and open its permalink page if it is not loaded.
   */
  setupIndexLinks() {
    document.addEventListener('click', (event) => {
      const link = event.target instanceof Element
        ? event.target.closest('.pinned-link, .key-event-link') : null;
      if (!link || !plainClick(event)) return;
      const id = link.closest('[data-update-id]')?.dataset.updateId;
      if (!id) return;
      event.preventDefault(); // in the embed, <base target="_blank"> would open a new tab
      if (this.pill.has(id) && this.before === null) this.pill.flush();
      const article = this.updates.find(id);
      if (!article) {
        window.location.assign(`/blogs/${encodeURIComponent(this.slug)}/updates/${encodeURIComponent(id)}`);
        return;
      }
      if (!article.classList.contains('key-event') && this.updates.keyEventsOnly) {
        this.updates.setKeyEventsOnly(false);
      }
      if (window.location.hash === `#update-${id}`) article.scrollIntoView();
      else window.location.hash = `update-${id}`;
    });
  }
}

function main() {
  setupAnnouncer();
  keepTimesFresh();
  setupSharing();
  setupEmbeds();
  const list = document.getElementById('updates');
  if (document.body.classList.contains('embed')) setupFrame(list?.dataset.blog ?? '');
  if (list && list.dataset.blog) new Reader(list).start();
  const permalink = document.getElementById('permalink');
  if (permalink && permalink.dataset.blog) setupPermalink(permalink);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
