// Paging: the reader's view (newest or oldest first, every update or key events only: the page's
// ?order=oldest&key_events=1, read by the server too) and "Load more" (#load-more), which fetches
// the next page in the order shown from the API and adds it below (its href, ?before=ID or
// ?after=ID with the view's parameters, is the server-rendered page for a reader without
// JavaScript), and the page of updates a reload after `reset` starts from.

import { t } from './strings.js';

const PAGE_SIZE = 20;

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** The view in a query string: `{ oldest, keyEvents, before, after }` (cursors null when absent). */
export function viewOf(search) {
  const params = new URLSearchParams(search);
  return {
    oldest: params.get('order') === 'oldest',
    keyEvents: ['1', 'true'].includes(params.get('key_events') ?? ''),
    before: params.get('before'),
    after: params.get('before') === null ? params.get('after') : null,
  };
}

/** The query string of a view, with its '?' (or '' for the default view). */
export function queryOf(view) {
  const params = new URLSearchParams();
  if (view.oldest) params.set('order', 'oldest');
  if (view.keyEvents) params.set('key_events', '1');
  if (view.before) params.set('before', view.before);
  else if (view.after) params.set('after', view.after);
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A page of the blog's updates (`api`: its API path) in `view`'s order, from its cursor. */
export async function fetchUpdates(api, view) {
  const params = new URLSearchParams(queryOf(view));
  params.set('limit', String(PAGE_SIZE));
  const page = await getJSON(`${api}/updates?${params}`);
  return { ...page, updates: Array.isArray(page.updates) ? page.updates : [] };
}

/** The reader page's query of the API page's `next` link, or null on the last page. */
export function nextQuery(page) {
  if (typeof page.next !== 'string') return null;
  const view = viewOf(new URL(page.next, window.location.href).search);
  return view.before || view.after ? queryOf(view) : null;
}

/** Point "Load more" at the page `query` (?before=... or ?after=...), or remove it when null. */
export function setNextPage(list, query) {
  let link = document.getElementById('load-more');
  if (!query) {
    (link?.closest('.load-more') ?? link)?.remove();
    return;
  }
  if (!link) {
    const wrapper = document.createElement('p');
    wrapper.className = 'load-more';
    link = document.createElement('a');
    link.id = 'load-more';
    link.textContent = t('loadMore');
    wrapper.append(link);
    list.after(wrapper);
  }
  link.setAttribute('href', query);
}

/** Add the page "Load more" points at below the list; resolves to false when it failed. */
export async function loadMore(api, updates) {
  const link = document.getElementById('load-more');
  if (!link || link.getAttribute('aria-busy') === 'true') return true;
  const view = viewOf(new URL(link.href).search);
  if (!view.before && !view.after) return true;
  link.setAttribute('aria-busy', 'true');
  try {
    const page = await fetchUpdates(api, view);
    updates.addPage(page.updates);
    setNextPage(updates.list, nextQuery(page));
    return true;
  } catch {
    window.location.assign(link.href); // fall back to the server-rendered page
    return false;
  } finally {
    link.removeAttribute('aria-busy');
  }
}

/** A plain left click on "Load more" adds the next page in place (`updates`: the UpdateList);
 * `loaded` runs after each page. */
export function setupLoadMore(api, updates, loaded = () => {}) {
  document.addEventListener('click', async (event) => {
    const link = event.target instanceof Element ? event.target.closest('#load-more') : null;
    if (!link || !plainClick(event)) return;
    event.preventDefault();
    if (await loadMore(api, updates)) loaded();
  });
}

/** A left click without modifier keys, not handled yet: ours to take over. */
export function plainClick(event) {
  return !event.defaultPrevented && event.button === 0
    && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
}
