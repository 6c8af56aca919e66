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
import { fetchUpdates, getJSON, plainClick, setNextBefore, setupLoadMore } from './paging.js';
import { Pill, setupPreferences } from './pill.js';
import { setupSharing } from './share.js';
import { EVENT, Stream } from './stream.js';
import { t } from './strings.js';
import { keepTimesFresh, localise } from './times.js';
import { UpdateList, valid } from './updates.js';

class Reader {
  constructor(list) {
    this.slug = list.dataset.blog;
    this.api = `/api/v1/blogs/${encodeURIComponent(this.slug)}`;
    this.before = new URLSearchParams(window.location.search).get('before'); // an older page
    this.updates = new UpdateList(list);
    this.pill = new Pill(document.getElementById('new-updates'), this.updates, this.before);
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
    setupPreferences(this.updates, this.pill);
    setupLoadMore(this.api, this.updates);
    this.setupIndexLinks();
    this.stream.start();
  }

  apply(data) {
    const { update } = data;
    if (data.type === EVENT.published && valid(update)) this.published(update);
    else if (data.type === EVENT.edited && valid(update)) this.edited(update);
    else if (data.type === EVENT.deleted && valid(update)) this.deleted(String(update.id));
    else if (data.type === EVENT.blogUpdated && data.meta) this.applyMeta(data.meta);
  }

  published(update) {
    const id = String(update.id);
    const existing = this.updates.find(id);
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
    if (existing) this.updates.replace(existing, update);
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
      fetchUpdates(this.api, this.before),
      getJSON(this.api).catch(() => null),
    ]);
    this.pill.clear();
    const nextBefore = page.next_before ?? null;
    this.updates.renderAll(page.updates, this.before, nextBefore === null);
    setNextBefore(this.updates.list, nextBefore);
    if (meta) this.applyMeta(meta);
    return page.last_event_id;
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
  if (list && list.dataset.blog) new Reader(list).start();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
