// Transport and resume: the blog's event stream over Server-Sent Events, or a WebSocket when the
// page asks for one or the browser has no EventSource. It resumes from the last event it passed
// on (the EventSource sends Last-Event-ID by itself; our own reconnects say ?last_event_id=),
// passes each event on once and in order, and on `reset` waits for the page to reload its state.

/** The stream's event types (DESIGN.md, "Event stream"): their one home in the client. */
export const EVENT = Object.freeze({
  published: 'update.published',
  edited: 'update.edited',
  deleted: 'update.deleted',
  blogUpdated: 'blog.updated',
  reset: 'reset',
});

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 15000;
const STABLE_MS = 5000; // a connection open this long resets the backoff
// Sleep detector: a 10 s timer that fires this late means the machine slept and the
// connection may be dead without the browser knowing. Hidden tabs' timers are throttled
// to about once a minute, hence the margin.
const TICK_MS = 10000;
const SLEPT_MS = 100000;

export function parseId(value) {
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(String(value ?? '').trim());
  return match ? [BigInt(match[1]), BigInt(match[2] ?? '0')] : null;
}

/** True when `id` comes strictly after `last` ("ms-seq" compared as numbers). */
export function isAfter(id, last) {
  const a = parseId(id);
  if (a === null) return false;
  const b = parseId(last);
  if (b === null) return true;
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export class Stream {
  /**
   * `api`: the blog's API path; `lastId`: the last event the page holds. `onEvent(data)` gets
   * each later event once; `onReset()` reloads the page's state and resolves to the
   * `last_event_id` it holds then; `onState(state)`: 'live', 'reconnecting', or 'gone' (the blog
   * was deleted: nothing more to follow).
   */
  constructor({ api, slug, lastId, socket }, { onEvent, onReset, onState }) {
    this.api = api;
    this.slug = slug;
    this.lastId = lastId || '0-0';
    this.useSocket = socket || typeof EventSource === 'undefined';
    this.onEvent = onEvent;
    this.onReset = onReset;
    this.onState = onState;
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

  connect() {
    this.timer = 0;
    const query = `last_event_id=${encodeURIComponent(this.lastId)}`;
    if (this.useSocket) this.openSocket(query);
    else this.openEventSource(query);
  }

  opened() {
    this.openedAt = Date.now();
    this.onState('live');
  }

  openEventSource(query) {
    const source = new EventSource(`${this.api}/events?${query}`);
    this.source = source;
    source.onopen = () => this.opened();
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error, a wrong content type): reopen it ourselves.
        this.source = null;
        this.scheduleReconnect();
      } else {
        // CONNECTING: the browser retries by itself and sends Last-Event-ID.
        this.onState('reconnecting');
      }
    };
    for (const type of Object.values(EVENT)) {
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
    socket.onopen = () => this.opened();
    socket.onmessage = (event) => this.receive(event.data, '');
    socket.onerror = () => {
      if (this.socket === socket) this.onState('reconnecting');
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === 4404) this.onState('gone');
      else this.scheduleReconnect();
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
    this.onState('reconnecting');
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
    if (data.type === EVENT.reset) {
      this.reload();
      return;
    }
    if (this.resetting) {
      this.buffer.push(data);
      return;
    }
    if (!isAfter(data.id, this.lastId)) return; // seen already: never show it twice
    this.lastId = String(data.id);
    this.onEvent(data);
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
        const lastId = await this.onReset();
        // Taken as is, even when lower: after a store reset the IDs start again.
        if (parseId(lastId)) this.lastId = String(lastId);
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
}
