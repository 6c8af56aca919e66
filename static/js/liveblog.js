// liveblog reader client: a plain ES module, no build step, no dependencies.
//
// On a page with #updates it follows the blog's event stream (Server-Sent Events, or a
// WebSocket when data-transport="ws" or EventSource is missing), resumes from the last event
// it has seen, and never shows an event twice. It keeps aside#pinned and nav#key-events in
// step with the list, and honours #updates[data-hold="off"] (never hold new updates behind the
// pill). Every page gets its <time> elements in the reader's local time, a relative time in
// each .update-ago ("5 min ago", refreshed every 30 s) and working .update-share buttons.
// The DOM built here mirrors templates/_update.html: change both together.

const EVENT_TYPES = ['update.published', 'update.edited', 'update.deleted', 'blog.updated', 'reset'];
const PAGE_SIZE = 20;
const HOLD_BELOW_PX = 200; // scrolled further than this: new updates wait behind #new-updates
const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 15000;
const STABLE_MS = 5000; // a connection open this long resets the backoff
// Sleep detector: a 10 s timer that fires this late means the machine slept and the
// connection may be dead without the browser knowing. Hidden tabs' timers are throttled
// to about once a minute, hence the margin.
const TICK_MS = 10000;
const SLEPT_MS = 100000;
const FLASH_MS = 2500;
const PREFS_KEY = 'liveblog:prefs';
const TIMES_REFRESH_MS = 30000; // "5 min ago" and "today or another day" go stale
const SHARE_FEEDBACK_MS = 2000; // how long a share button says "Link copied"
const ANNOUNCE_DELAY_MS = 1000; // several held updates in a burst: one announcement
const TITLE_WORDS = 90; // characters of text standing in for a missing title (_update.html)
const EXCERPT_WORDS = 160; // characters of a pinned update's excerpt

// ---------------------------------------------------------------- stream IDs

function parseId(value) {
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(String(value ?? '').trim());
  return match ? [BigInt(match[1]), BigInt(match[2] ?? '0')] : null;
}

/** True when `id` comes strictly after `last` ("ms-seq" compared as numbers). */
function isAfter(id, last) {
  const a = parseId(id);
  if (a === null) return false;
  const b = parseId(last);
  if (b === null) return true;
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

// ---------------------------------------------------------------- times

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
});
const fullDate = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
});
const tooltip = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

/** "14:05" today, "24 Apr, 14:05" on another day, with the year when it is not this year. */
function localise(time) {
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

function localiseAll(root) {
  for (const time of root.querySelectorAll('time[datetime]')) localise(time);
}

const MINUTE_MS = 60000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** "just now", "5 min ago", "2 h ago", "3 d ago" (a clock a little behind the server's: "just now"). */
function ago(date, now) {
  const ms = now - date.getTime();
  if (ms < MINUTE_MS) return 'just now';
  if (ms < HOUR_MS) return `${Math.floor(ms / MINUTE_MS)} min ago`;
  if (ms < DAY_MS) return `${Math.floor(ms / HOUR_MS)} h ago`;
  return `${Math.floor(ms / DAY_MS)} d ago`;
}

function refreshAgo(root) {
  const now = Date.now();
  for (const span of root.querySelectorAll('.update-ago[data-since]')) {
    const date = new Date(span.dataset.since);
    const text = Number.isNaN(date.getTime()) ? '' : ago(date, now);
    if (span.textContent !== text) span.textContent = text;
  }
}

function refreshTimes(root) {
  localiseAll(root);
  refreshAgo(root);
}

/** The server's rendering before localisation: HH:MM of an RFC 3339 UTC time. */
function hhmm(value) {
  return typeof value === 'string' ? value.slice(11, 16) : '';
}

// ---------------------------------------------------------------- the article

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeElement(className, value) {
  const time = element('time', className, hhmm(value));
  time.setAttribute('datetime', value ?? '');
  return time;
}

/** The text of sanitized update HTML, whitespace collapsed (Jinja's `striptags`). */
function textOf(html) {
  const template = document.createElement('template'); // inert: nothing loads or runs
  template.innerHTML = html ?? '';
  return (template.content.textContent || '').replace(/\s+/g, ' ').trim();
}

/** Jinja's `truncate(length, false, "…", 0)`: cut at a word boundary. */
function firstWords(html, length) {
  const text = textOf(html);
  if (text.length <= length) return text;
  const cut = text.slice(0, length - 1);
  const space = cut.lastIndexOf(' ');
  return `${space === -1 ? cut : cut.slice(0, space)}…`;
}

/** The DOM of templates/_update.html's render_update(update, blog). */
function buildArticle(update, slug) {
  const id = String(update.id);
  const article = element('article', 'update');
  if (update.key_event) article.classList.add('key-event');
  if (update.pinned) article.classList.add('pinned');
  article.id = `update-${id}`;
  article.dataset.updateId = id;

  const header = element('header', 'update-header');
  header.append(timeElement('update-time', update.published_at));
  const since = element('span', 'update-ago');
  since.dataset.since = update.published_at ?? '';
  since.setAttribute('aria-hidden', 'true'); // the <time> says it; refreshing it is no news
  header.append(since);
  if (update.pinned) header.append(element('span', 'badge badge-pinned', 'Pinned'));
  if (update.key_event) header.append(element('span', 'badge badge-key-event', 'Key event'));
  article.append(header);

  if (update.title) article.append(element('h2', 'update-title', update.title));

  const body = element('div', 'update-body');
  body.innerHTML = update.html ?? ''; // sanitized server-side against an allow-list (nh3)
  article.append(body);

  const image = update.image;
  if (image && typeof image.url === 'string' && /^https:\/\//i.test(image.url)) {
    const figure = element('figure', 'update-image');
    const img = element('img');
    img.setAttribute('src', image.url);
    img.setAttribute('alt', image.alt ?? '');
    img.setAttribute('loading', 'lazy');
    figure.append(img);
    if (image.caption) figure.append(element('figcaption', '', image.caption));
    article.append(figure);
  }

  const footer = element('footer', 'update-footer');
  if (update.author && update.author.name) {
    const author = element('span', 'update-author', update.author.name);
    author.dataset.kind = update.author.kind || 'editor';
    footer.append(author);
  }
  if (update.updated_at && update.updated_at !== update.published_at) {
    const edited = element('span', 'update-edited', 'Updated ');
    edited.append(timeElement('', update.updated_at));
    footer.append(edited);
  }
  const link = element('a', 'update-permalink', 'Permalink');
  link.setAttribute('href', `/blogs/${encodeURIComponent(slug)}/updates/${encodeURIComponent(id)}`);
  footer.append(link);
  const share = element('button', 'update-share', 'Share');
  share.type = 'button';
  footer.append(share);
  article.append(footer);

  refreshTimes(article);
  return article;
}

/** An entry of aside#pinned or nav#key-events (templates/_update.html: render_pinned, render_key_event). */
function buildEntry(kind, update) {
  const id = String(update.id);
  const item = element('li', `${kind}-entry`);
  item.dataset.updateId = id;
  const link = element('a', `${kind}-link`);
  link.setAttribute('href', `#update-${id}`);
  if (document.body.classList.contains('embed')) link.setAttribute('target', '_self');
  link.append(
    timeElement(`${kind}-time`, update.published_at),
    element('span', `${kind}-title`, update.title || firstWords(update.html, TITLE_WORDS)),
  );
  item.append(link);
  if (kind === 'pinned' && update.title) {
    item.append(element('p', 'pinned-excerpt', firstWords(update.html, EXCERPT_WORDS)));
  }
  localiseAll(item);
  return item;
}

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
      const fresh = buildEntry(this.kind, update);
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

  /** After a reload of `updates` (newest first, the page before `before` or the newest). */
  resync(updates, before) {
    const ids = new Set(updates.map((u) => String(u.id)));
    const oldest = updates.length ? String(updates[updates.length - 1].id) : null;
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

// ---------------------------------------------------------------- sharing, announcements

/** Say `message` through the page's polite status region (made by main()). */
function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = ''; // the same message twice is read twice
  setTimeout(() => { region.textContent = message; }, 50);
}

async function copyText(text, returnFocus) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no Clipboard API (an insecure origin) or refused: the old way below
  }
  const area = element('textarea', 'visually-hidden');
  area.value = text;
  area.setAttribute('readonly', '');
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  area.remove();
  returnFocus.focus();
  return copied;
}

const shareTimers = new WeakMap();

function shareFeedback(button, message) {
  clearTimeout(shareTimers.get(button));
  button.textContent = message;
  button.classList.add('is-done');
  // Inside the aria-live list the new label is read out by itself; elsewhere say it.
  if (!button.closest('[aria-live]')) announce(message);
  shareTimers.set(button, setTimeout(() => {
    button.textContent = 'Share';
    button.classList.remove('is-done');
  }, SHARE_FEEDBACK_MS));
}

/** The share sheet where there is one (phones), else the permalink to the clipboard. */
async function share(button) {
  const article = button.closest('.update');
  const link = article?.querySelector('.update-permalink');
  if (!link) return;
  const url = new URL(link.getAttribute('href'), window.location.href).href;
  if (typeof navigator.share === 'function') {
    const title = article.querySelector('.update-title')?.textContent || document.title;
    try {
      await navigator.share({ title, url });
      return;
    } catch (error) {
      if (error && error.name === 'AbortError') return; // the reader closed the sheet
    }
  }
  shareFeedback(button, (await copyText(url, button)) ? 'Link copied' : 'Could not copy the link');
}

function setupSharing() {
  for (const button of document.querySelectorAll('.update-share')) button.hidden = false;
  document.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('.update-share') : null;
    if (button) share(button);
  });
}

function flash(article, className) {
  article.classList.add(className);
  setTimeout(() => article.classList.remove(className), FLASH_MS);
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

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

// ---------------------------------------------------------------- the live page

class LiveBlog {
  constructor(list) {
    this.list = list;
    this.slug = list.dataset.blog;
    this.lastId = list.dataset.lastEventId || '0-0';
    this.useSocket = list.dataset.transport === 'ws' || typeof EventSource === 'undefined';
    this.api = `/api/v1/blogs/${encodeURIComponent(this.slug)}`;
    this.before = new URLSearchParams(window.location.search).get('before'); // an older page
    this.status = document.getElementById('live-status');
    this.pill = document.getElementById('new-updates');
    this.empty = document.getElementById('no-updates');
    const pinned = document.getElementById('pinned');
    const keyEvents = document.getElementById('key-events');
    this.indexes = [
      pinned && new UpdateIndex(pinned, 'pinned', (u) => Boolean(u.pinned)),
      keyEvents && new UpdateIndex(keyEvents, 'key-event', (u) => Boolean(u.key_event)),
    ].filter(Boolean);
    this.announceTimer = 0;
    this.blogStatus = this.status?.dataset.state === 'ended' ? 'ended' : 'live';
    this.connection = 'live';
    this.pending = new Map(); // update id -> update, in arrival order (oldest first)
    this.oldestFirst = false;
    this.source = null; // EventSource
    this.socket = null; // WebSocket
    this.openedAt = 0;
    this.attempt = 0;
    this.timer = 0;
    this.resetting = null; // the running reload after a `reset` event
    this.resetAgain = false;
    this.buffer = []; // events that arrive during a reload
  }

  start() {
    this.pill?.addEventListener('click', () => this.showPending());
    this.setupControls();
    this.setupLoadMore();
    this.setupIndexLinks();
    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('pagehide', (event) => { if (event.persisted) this.disconnect(); });
    window.addEventListener('pageshow', (event) => { if (event.persisted) this.reconnectNow(); });
    let tick = Date.now();
    setInterval(() => {
      const now = Date.now();
      if (now - tick > SLEPT_MS) this.reconnectNow();
      tick = now;
    }, TICK_MS);
    this.connect();
  }

  // ---- transports

  connect() {
    this.timer = 0;
    const query = `last_event_id=${encodeURIComponent(this.lastId)}`;
    if (this.useSocket) this.openSocket(query);
    else this.openEventSource(query);
  }

  openEventSource(query) {
    const source = new EventSource(`${this.api}/events?${query}`);
    this.source = source;
    source.onopen = () => {
      this.openedAt = Date.now();
      this.setConnection('live');
    };
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error, a wrong content type): reopen it ourselves.
        this.source = null;
        this.scheduleReconnect();
      } else {
        // CONNECTING: the browser retries by itself and sends Last-Event-ID.
        this.setConnection('reconnecting');
      }
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => this.receive(event.data, event.lastEventId));
    }
  }

  openSocket(query) {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${window.location.host}${this.api}/ws?${query}`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.openedAt = Date.now();
      this.setConnection('live');
    };
    socket.onmessage = (event) => this.receive(event.data, '');
    socket.onerror = () => {
      if (this.socket === socket) this.setConnection('reconnecting');
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === 4404) {
        // The blog is gone: nothing to follow any more.
        this.blogStatus = 'ended';
        this.renderStatus();
        return;
      }
      this.scheduleReconnect();
    };
  }

  disconnect() {
    clearTimeout(this.timer);
    this.timer = 0;
    const { source, socket } = this;
    this.source = null;
    this.socket = null;
    source?.close();
    socket?.close(1000);
  }

  scheduleReconnect() {
    this.setConnection('reconnecting');
    if (this.timer) return;
    if (this.openedAt && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.openedAt = 0;
    const base = Math.min(MIN_BACKOFF_MS * 2 ** this.attempt, MAX_BACKOFF_MS);
    this.attempt += 1;
    // A little jitter, so that readers dropped together do not all come back together.
    const delay = base * (0.8 + Math.random() * 0.2);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Drop the connection and resume at once from the last event seen (duplicates are dropped). */
  reconnectNow() {
    this.disconnect();
    this.attempt = 0;
    this.connect();
  }

  // ---- events

  receive(text, transportId) {
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    if (!data || typeof data !== 'object') return;
    if (data.id == null && transportId) data.id = transportId;
    this.handle(data);
  }

  handle(data) {
    if (data.blog && data.blog !== this.slug) return;
    if (data.type === 'reset') {
      this.reload();
      return;
    }
    if (this.resetting) {
      this.buffer.push(data);
      return;
    }
    if (!isAfter(data.id, this.lastId)) return; // seen already: never show it twice
    this.lastId = String(data.id);
    switch (data.type) {
      case 'update.published':
        if (data.update) this.published(data.update);
        break;
      case 'update.edited':
        if (data.update) this.edited(data.update);
        break;
      case 'update.deleted':
        if (data.update) this.deleted(String(data.update.id));
        break;
      case 'blog.updated':
        if (data.meta) this.applyMeta(data.meta);
        break;
      default:
        break;
    }
  }

  find(id) {
    const node = document.getElementById(`update-${id}`);
    return node && node.parentElement === this.list ? node : null;
  }

  holding() {
    if (this.before !== null) return true; // an older page: the newest are not shown here at all
    if (this.list.dataset.hold === 'off') return false; // read each time: it may be set later
    return !this.oldestFirst && window.scrollY > HOLD_BELOW_PX;
  }

  published(update) {
    const id = String(update.id);
    const existing = this.find(id);
    if (existing) {
      this.replace(existing, update);
    } else if (this.pending.has(id) || this.holding()) {
      this.pending.set(id, update);
      this.renderPill();
    } else {
      this.flushPending();
      this.insert(update);
      this.touch(update);
    }
    this.index(update);
  }

  edited(update) {
    const id = String(update.id);
    const existing = this.find(id);
    if (existing) this.replace(existing, update);
    else if (this.pending.has(id)) this.pending.set(id, update);
    else this.place(update);
    this.touch(update);
    this.index(update); // also one older than the list: the server may list it as pinned
  }

  /**
   * An update this page does not show: an edit whose publication it never got (an edit takes
   * the update's earlier events out of the stream). It goes where its ID places it among the
   * loaded updates; one older than them all waits for "Load more" while there is more.
   */
  place(update) {
    const id = String(update.id);
    const items = [...this.list.children].filter((item) => item.dataset.updateId);
    if (items.every((item) => isAfter(id, item.dataset.updateId))) {
      this.published(update); // the newest: as if just published (held behind the pill if scrolled)
      return;
    }
    const next = this.oldestFirst
      ? items.find((item) => isAfter(item.dataset.updateId, id))
      : items.find((item) => isAfter(id, item.dataset.updateId));
    const more = document.getElementById('load-more') !== null;
    if (more && (next === undefined || (this.oldestFirst && next === items[0]))) return;
    const article = buildArticle(update, this.slug);
    if (next) next.before(article);
    else this.list.append(article);
    flash(article, 'is-edited');
    this.renderEmpty();
  }

  deleted(id) {
    this.find(id)?.remove();
    if (this.pending.delete(id)) this.renderPill();
    for (const index of this.indexes) index.remove(id);
    this.renderEmpty();
  }

  /** Pinned and key-events lists follow the update's flags. */
  index(update) {
    for (const index of this.indexes) index.sync(update);
  }

  insert(update) {
    const article = buildArticle(update, this.slug);
    if (this.oldestFirst) this.list.append(article);
    else this.list.prepend(article);
    flash(article, 'is-new');
    this.renderEmpty();
  }

  replace(existing, update) {
    const article = buildArticle(update, this.slug);
    existing.replaceWith(article);
    flash(article, 'is-edited');
  }

  /** The page's "Updated" time follows the newest change. */
  touch(update) {
    const when = update.updated_at || update.published_at;
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
    const time = document.getElementById('blog-updated');
    if (time && meta.updated_at) {
      time.setAttribute('datetime', meta.updated_at);
      localise(time);
    }
  }

  // ---- reset: reload the state, then apply what arrived meanwhile

  reload() {
    this.resetAgain = true;
    if (!this.resetting) this.resetting = this.runReload();
  }

  async runReload() {
    let delay = MIN_BACKOFF_MS;
    while (this.resetAgain) {
      this.resetAgain = false;
      try {
        const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
        if (this.before) params.set('before', this.before);
        const [page, meta] = await Promise.all([
          getJSON(`${this.api}/updates?${params}`),
          getJSON(this.api).catch(() => null),
        ]);
        this.renderAll(Array.isArray(page.updates) ? page.updates : []);
        this.setNextBefore(page.next_before ?? null);
        if (meta) this.applyMeta(meta);
        // Taken as is, even when lower: after a store reset the IDs start again.
        if (parseId(page.last_event_id)) this.lastId = String(page.last_event_id);
      } catch {
        this.resetAgain = true;
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
    }
    this.resetting = null;
    const buffered = this.buffer;
    this.buffer = [];
    for (const data of buffered) this.handle(data);
  }

  renderAll(updates) {
    this.pending.clear();
    this.renderPill();
    const valid = updates.filter((u) => u && u.id != null);
    const articles = valid.map((u) => buildArticle(u, this.slug));
    if (this.oldestFirst) articles.reverse();
    this.list.replaceChildren(...articles);
    for (const index of this.indexes) index.resync(valid, this.before);
    this.renderEmpty();
  }

  // ---- the "N new updates" pill

  renderPill() {
    if (!this.pill) return;
    const count = this.pending.size;
    const text = `${count} new update${count === 1 ? '' : 's'}`;
    this.pill.textContent = text;
    this.pill.hidden = count === 0;
    // The held updates are outside the live list: say that they are there, once per burst.
    clearTimeout(this.announceTimer);
    if (count > 0) this.announceTimer = setTimeout(() => announce(text), ANNOUNCE_DELAY_MS);
  }

  flushPending() {
    if (this.pending.size === 0) return;
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const update of held) {
      if (!this.find(String(update.id))) this.insert(update);
    }
    this.renderPill();
  }

  showPending() {
    if (this.before !== null) {
      // On an older page the newest updates are not in the list: go to the live page.
      window.location.assign(window.location.pathname);
      return;
    }
    this.flushPending();
    window.scrollTo(0, 0);
  }

  // ---- status

  setConnection(state) {
    this.connection = state;
    this.renderStatus();
  }

  renderStatus() {
    if (!this.status) return;
    const state = this.blogStatus === 'ended' ? 'ended' : this.connection;
    if (this.status.textContent !== state) this.status.textContent = state;
    this.status.dataset.state = state;
  }

  renderEmpty() {
    if (this.empty) this.empty.hidden = this.list.querySelector('.update') !== null;
  }

  // ---- "Load more", oldest first, key events only

  setupLoadMore() {
    document.addEventListener('click', (event) => {
      const link = event.target instanceof Element ? event.target.closest('#load-more') : null;
      if (!link || event.defaultPrevented || event.button !== 0
        || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      this.loadMore(link);
    });
  }

  async loadMore(link) {
    if (link.getAttribute('aria-busy') === 'true') return;
    const before = link.dataset.before || new URL(link.href).searchParams.get('before');
    if (!before) return;
    link.setAttribute('aria-busy', 'true');
    try {
      const params = new URLSearchParams({ limit: String(PAGE_SIZE), before });
      const page = await getJSON(`${this.api}/updates?${params}`);
      for (const update of page.updates || []) {
        if (!update || update.id == null || this.find(String(update.id))) continue;
        const article = buildArticle(update, this.slug);
        if (this.oldestFirst) this.list.prepend(article);
        else this.list.append(article);
        this.index(update);
      }
      this.renderEmpty();
      this.setNextBefore(page.next_before ?? null);
    } catch {
      window.location.assign(link.href); // fall back to the server-rendered page
    } finally {
      link.removeAttribute('aria-busy');
    }
  }

  setNextBefore(before) {
    let link = document.getElementById('load-more');
    if (!before) {
      (link?.closest('.load-more') ?? link)?.remove();
      return;
    }
    if (!link) {
      const wrapper = element('p', 'load-more');
      link = element('a', '', 'Load more');
      link.id = 'load-more';
      wrapper.append(link);
      this.list.after(wrapper);
    }
    link.setAttribute('href', `?before=${encodeURIComponent(before)}`);
    link.dataset.before = before;
  }

  /**
   * Links of the pinned and key-events lists: release the update if it waits behind the pill,
   * show it if "Key events only" hides it, and open its permalink page if it is not loaded.
   */
  setupIndexLinks() {
    document.addEventListener('click', (event) => {
      const link = event.target instanceof Element
        ? event.target.closest('.pinned-link, .key-event-link') : null;
      if (!link || event.defaultPrevented || event.button !== 0
        || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const id = link.closest('[data-update-id]')?.dataset.updateId;
      if (!id) return;
      event.preventDefault(); // in the embed, <base target="_blank"> would open a new tab
      if (this.pending.has(id) && this.before === null) this.flushPending();
      const article = this.find(id);
      if (!article) {
        window.location.assign(`/blogs/${encodeURIComponent(this.slug)}/updates/${encodeURIComponent(id)}`);
        return;
      }
      if (!article.classList.contains('key-event') && this.list.classList.contains('key-events-only')) {
        this.setKeyEventsOnly(false);
      }
      if (window.location.hash === `#update-${id}`) article.scrollIntoView();
      else window.location.hash = `update-${id}`;
    });
  }

  setupControls() {
    const controls = document.getElementById('reader-controls');
    const order = document.getElementById('order-toggle');
    const keyOnly = document.getElementById('key-events-toggle');
    if (!controls || !order || !keyOnly) return;
    const prefs = readPrefs();
    const save = () => writePrefs({
      oldestFirst: this.oldestFirst,
      keyEventsOnly: this.list.classList.contains('key-events-only'),
    });
    order.addEventListener('click', () => {
      this.setOldestFirst(!this.oldestFirst);
      save();
    });
    keyOnly.addEventListener('click', () => {
      this.setKeyEventsOnly(!this.list.classList.contains('key-events-only'));
      save();
    });
    if (prefs.oldestFirst) this.setOldestFirst(true);
    if (prefs.keyEventsOnly) this.setKeyEventsOnly(true);
    controls.hidden = false;
  }

  setOldestFirst(on) {
    const order = document.getElementById('order-toggle');
    order?.setAttribute('aria-pressed', String(on));
    if (on === this.oldestFirst) return;
    this.oldestFirst = on;
    this.list.append(...[...this.list.children].reverse());
    if (on) this.flushPending(); // new updates go to the bottom now: nothing moves the page
  }

  setKeyEventsOnly(on) {
    this.list.classList.toggle('key-events-only', on);
    document.getElementById('key-events-toggle')?.setAttribute('aria-pressed', String(on));
  }
}

/** A polite status region for what happens outside the live list (held updates, "Link copied"). */
function setupAnnouncer() {
  if (document.getElementById('announcer')) return;
  const region = element('div', 'visually-hidden');
  region.id = 'announcer';
  region.setAttribute('role', 'status');
  document.body.append(region);
}

function main() {
  setupAnnouncer();
  refreshTimes(document);
  setInterval(() => refreshTimes(document), TIMES_REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refreshTimes(document);
  });
  setupSharing();
  const list = document.getElementById('updates');
  if (list && list.dataset.blog) new LiveBlog(list).start();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
