// Paging: "Load more" (#load-more) fetches the next older page from the API and adds it to the
// list (its href, ?before=ID, is the server-rendered page for a reader without JavaScript), and
// the page of updates a reload after `reset` starts from.

import { t } from './strings.js';

const PAGE_SIZE = 20;

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** A page of the blog's updates (`api`: its API path), newest first, before `before` if not null. */
export async function fetchUpdates(api, before) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (before) params.set('before', before);
  const page = await getJSON(`${api}/updates?${params}`);
  return { ...page, updates: Array.isArray(page.updates) ? page.updates : [] };
}

/** Point "Load more" at the page before `before`, or remove it when there is no more. */
export function setNextBefore(list, before) {
  let link = document.getElementById('load-more');
  if (!before) {
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
  link.setAttribute('href', `?before=${encodeURIComponent(before)}`);
  link.dataset.before = before;
}

async function loadMore(link, api, updates) {
  if (link.getAttribute('aria-busy') === 'true') return;
  const before = link.dataset.before || new URL(link.href).searchParams.get('before');
  if (!before) return;
  link.setAttribute('aria-busy', 'true');
  try {
    const page = await fetchUpdates(api, before);
    updates.addOlder(page.updates);
    setNextBefore(updates.list, page.next_before ?? null);
  } catch {
    window.location.assign(link.href); // fall back to the server-rendered page
  } finally {
    link.removeAttribute('aria-busy');
  }
}

/** A plain left click on "Load more" adds the older page in place (`updates`: the UpdateList). */
export function setupLoadMore(api, updates) {
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('#load-more') : null;
    if (!link || !plainClick(event)) return;
    event.preventDefault();
    loadMore(link, api, updates);
  });
}

/** A left click without modifier keys, not handled yet: ours to take over. */
export function plainClick(event) {
  return !event.defaultPrevented && event.button === 0
    && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
}
