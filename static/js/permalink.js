// The permalink page (/blogs/{slug}/updates/{id}, #permalink): follows its blog's stream (the
// reader page's Stream, stream.js) for its one update. An edit redraws it from the same
// <template> as the reader page's live updates (updates.js) and keeps the h1 and the document's
// title in step; a delete takes it away and shows #update-deleted. After a `reset` it reloads the
// update from the API (a 404: it was deleted meanwhile).

import { getJSON } from './paging.js';
import { EVENT, Stream } from './stream.js';
import { UpdateList, firstWords, valid } from './updates.js';

class Permalink {
  constructor(root) {
    this.root = root;
    this.id = root.dataset.updateId;
    this.slug = root.dataset.blog;
    this.api = `/api/v1/blogs/${encodeURIComponent(this.slug)}`;
    this.list = new UpdateList(root);
    this.heading = document.getElementById('update-heading');
    this.stream = new Stream(
      { api: this.api, slug: this.slug, lastId: root.dataset.lastEventId, socket: false },
      { onEvent: (data) => this.apply(data), onReset: () => this.reload(), onState: () => {} },
    );
  }

  apply(data) {
    const { update } = data;
    if (!valid(update) || String(update.id) !== this.id) return;
    if (data.type === EVENT.edited || data.type === EVENT.published) this.show(update);
    else if (data.type === EVENT.deleted) this.gone();
  }

  show(update) {
    const existing = this.list.find(this.id);
    if (existing) this.list.replace(existing, update);
    if (!this.heading) return;
    const title = typeof update.title === 'string' ? update.title : '';
    this.heading.querySelector('.heading-title').textContent = title;
    this.heading.querySelector('.heading-title').hidden = !title;
    this.heading.querySelector('.heading-untitled').hidden = Boolean(title);
    const name = title || firstWords(update.html, Number(this.heading.dataset.untitledChars));
    document.title = `${name} — ${this.heading.dataset.blogTitle}`;
  }

  gone() {
    this.list.find(this.id)?.remove();
    const notice = document.getElementById('update-deleted');
    if (notice) notice.hidden = false;
  }

  /** After a `reset`: the update as it is now; resolves to the blog's last event ID. */
  async reload() {
    const blog = await getJSON(this.api);
    const response = await fetch(`${this.api}/updates/${encodeURIComponent(this.id)}`, { cache: 'no-store' });
    if (response.status === 404) this.gone();
    else if (response.ok) this.show(await response.json());
    else throw new Error(`HTTP ${response.status}`);
    return blog.last_event_id;
  }
}

export function setupPermalink(root) {
  new Permalink(root).stream.start();
}
