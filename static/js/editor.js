// liveblog editor helpers (progressive enhancement: every form also works without JS).
// - form#new-update publishes through the bots' API (its data-api URL) as JSON, with the session
//   cookie and the X-CSRF-Token header, and an Idempotency-Key kept until it succeeds, so sending
//   the same text again after a lost answer publishes it once; on success the form is cleared and
//   the update arrives through the page's live stream (static/js/liveblog.js); on failure
//   #form-error shows the problem and the typed text stays.
// - an image file chosen in form#new-update is uploaded first (its data-media URL, the same
//   session and header); the upload's id then stands in the form (image_media) and the update
//   names it, so a publish retried after an error does not upload the file again.
// - a debounced live preview of the Markdown body, rendered by the server's sanitizer.
// - confirm() before a delete, a cancel or a removal (CONFIRMS); edit/pin/key-event/delete
//   controls for updates that arrive live; a scheduled update (202) reloads the page, so
//   #scheduled lists it.
// - "N reading now" (#reading-now), asked for again every few seconds.
// - "Save draft" (button#save-draft, its data-api the drafts' URL) posts the same fields to the
//   drafts API (with its Idempotency-Key too: a draft is saved once), then reloads the page, so
//   #drafts lists it.
// - the times to publish at (input[type=datetime-local][data-zone=UTC], UTC on the server) are
//   shown and typed in the editor's own time zone, which the field's hint names, and sent as UTC.
// - "Copy" beside the embed snippet (copy.js).

import { setupCopy } from './copy.js';

import { t } from './strings.js';

const PREVIEW_DELAY_MS = 250;

function showError(message) {
  const box = document.getElementById('form-error');
  if (!box) return;
  box.textContent = message || '';
  box.hidden = !message;
}

async function problemText(response) {
  try {
    const problem = await response.json();
    return problem.detail || problem.title || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function setupPreview(form) {
  const url = form.dataset.preview;
  const body = form.elements.namedItem('body');
  const target = document.getElementById('preview');
  if (!url || !body || !target) return;
  let timer = null;
  let sequence = 0;
  const render = async () => {
    const mine = ++sequence;
    const data = new FormData();
    data.set('csrf', form.elements.namedItem('csrf').value);
    data.set('body', body.value);
    try {
      const response = await fetch(url, { method: 'POST', body: data, credentials: 'same-origin' });
      if (!response.ok || mine !== sequence) return;
      target.innerHTML = await response.text(); // sanitized server-side against an allow-list (nh3)
    } catch {
      // offline: the preview waits for the next keystroke
    }
  };
  body.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(render, PREVIEW_DELAY_MS);
  });
  if (body.value.trim()) render();
  form.addEventListener('reset', () => {
    sequence += 1;
    target.replaceChildren();
  });
}

/** The JSON object a bot would send, from the form: the one editor.py's `_update_payload`
 *  builds from the same fields when the form is posted without JavaScript. */
function updatePayload(form) {
  const field = (name) => form.elements.namedItem(name);
  const text = (name) => field(name).value;
  const payload = {
    title: text('title').trim() || null,
    body: text('body'),
    key_event: field('key_event').checked,
    pinned: Boolean(field('pinned')?.checked),
  };
  const media = field('image_media')?.value;
  const imageUrl = text('image_url').trim();
  const source = media ? { media } : imageUrl ? { url: imageUrl } : null;
  if (source) {
    payload.image = { ...source, alt: text('image_alt'), caption: text('image_caption'), credit: text('image_credit') };
  }
  const at = (field('scheduled_at')?.value || '').trim(); // the editor's local time
  if (at) payload.scheduled_at = new Date(at).toISOString();
  return payload;
}

/** A draft's request: the update's fields a draft has (no pin, no time). */
function draftPayload(form) {
  const { pinned, scheduled_at: at, ...payload } = updatePayload(form);
  return payload;
}

const pad = (n) => String(n).padStart(2, '0');

/** datetime-local values: "2026-11-29T10:00" in UTC as the same moment in local time, and back. */
function utcToLocal(value) {
  const date = new Date(`${value}Z`);
  if (Number.isNaN(date.getTime())) return value;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
    + `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function localToUtc(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString().slice(0, 16);
}

function setupLocalTimes() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || t('desk.localTime');
  for (const input of document.querySelectorAll('input[type="datetime-local"][data-zone="UTC"]')) {
    if (input.value) input.value = utcToLocal(input.value);
    input.dataset.zone = 'local';
    const hint = input.labels?.[0]?.querySelector('.time-zone');
    if (hint) hint.textContent = zone;
    // A form posted as it is (not form#new-update, sent as JSON) takes UTC, as without JS.
    if (input.form && input.form.id !== 'new-update') {
      input.form.addEventListener('submit', () => {
        if (input.value) input.value = localToUtc(input.value);
      });
    }
  }
}

/** Upload the chosen image file, if any; afterwards the form names the upload (image_media). */
async function uploadImage(form) {
  const file = form.elements.namedItem('image_file');
  if (!file?.files?.length) return;
  const data = new FormData();
  data.set('file', file.files[0]);
  const response = await fetch(form.dataset.media, {
    method: 'POST',
    body: data,
    headers: { 'X-CSRF-Token': form.elements.namedItem('csrf').value },
    credentials: 'same-origin',
  });
  if (!response.ok) {
    const error = new Error(response.status === 401 ? t('desk.sessionEndedShort') : await problemText(response));
    error.response = response;
    throw error;
  }
  let kept = form.elements.namedItem('image_media');
  if (!kept) {
    kept = Object.assign(document.createElement('input'), { type: 'hidden', name: 'image_media' });
    form.append(kept);
  }
  kept.value = (await response.json()).id;
  file.value = '';
}

/** The desk asks for an image's alt text (the API takes "" for a decorative image). */
function checkAlt(form) {
  const field = (name) => form.elements.namedItem(name);
  const image = field('image_file')?.files?.length || field('image_media')?.value || field('image_url').value.trim();
  field('image_alt').required = Boolean(image);
  return !image || field('image_alt').reportValidity();
}

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID() needs a secure context
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function setupPublish(form) {
  let pending = null; // {key, body}: the last request not known to have succeeded
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!checkAlt(form)) return;
    const button = event.submitter || form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    showError('');
    const url = button?.dataset.api || form.dataset.api;
    const draft = url.endsWith('/drafts');
    try {
      try {
        await uploadImage(form);
      } catch (error) {
        if (!error.response) throw error;
        showError(t('desk.notUploaded', { error: error.message }));
        return;
      }
      const body = JSON.stringify(draft ? draftPayload(form) : updatePayload(form));
      if (!pending || pending.body !== body) pending = { key: newKey(), body };
      const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': form.elements.namedItem('csrf').value };
      headers['Idempotency-Key'] = pending.key; // a retry publishes or saves nothing twice
      const response = await fetch(url, { method: 'POST', body, headers, credentials: 'same-origin' });
      if (response.ok) pending = null;
      if (response.status === 202 || (draft && response.ok)) {
        form.reset();
        window.location.reload(); // scheduled or a draft: #scheduled or #drafts lists it
      } else if (response.ok) {
        form.reset();
        form.elements.namedItem('image_media')?.remove();
        document.getElementById('image-kept')?.remove();
      } else if (response.status === 401) { // the API asks for a bot's token: say what it means here
        showError(t('desk.sessionEnded'));
      } else {
        showError(await problemText(response));
      }
    } catch (error) {
      showError(t('desk.notSent', { error: error.message || t('desk.unreachable') }));
    } finally {
      if (button) button.disabled = false;
    }
  });
}

// Forms that ask first, by class (the question: desk.confirm.KEY in the page's strings):
// dismissing the question keeps the thing.
const CONFIRMS = {
  'control-delete': 'deleteUpdate',
  'control-cancel': 'cancelScheduled',
  'control-delete-draft': 'deleteDraft',
  'control-revoke': 'revokeToken',
  'control-remove': 'removeUser',
  'control-remove-webhook': 'removeWebhook',
  'control-remove-feed': 'removeFeed',
};

function setupConfirm() {
  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const control = Object.keys(CONFIRMS).find((name) => form.classList.contains(name));
    if (control && !window.confirm(t(`desk.confirm.${CONFIRMS[control]}`))) event.preventDefault();
  }, true);
}

/** Give every update in #updates its editor controls, also those the live stream adds. */
function setupControls() {
  const list = document.getElementById('updates');
  const template = document.getElementById('update-controls');
  if (!list || !template) return;
  const decorate = (article) => {
    if (article.querySelector('.editor-controls')) return;
    const id = article.dataset.updateId;
    const controls = template.content.firstElementChild.cloneNode(true);
    for (const node of controls.querySelectorAll('[href], [action]')) {
      for (const name of ['href', 'action']) {
        const value = node.getAttribute(name);
        if (value) node.setAttribute(name, value.replace('__ID__', encodeURIComponent(id)));
      }
    }
    const pinned = article.classList.contains('pinned');
    const keyEvent = article.classList.contains('key-event');
    const pin = controls.querySelector('.control-pin');
    pin.elements.namedItem('pinned').value = String(!pinned);
    pin.querySelector('button').textContent = pinned ? 'Unpin' : 'Pin';
    const key = controls.querySelector('.control-key-event');
    key.elements.namedItem('key_event').value = String(!keyEvent);
    key.querySelector('button').textContent = keyEvent ? 'Not a key event' : 'Key event';
    article.append(controls);
  };
  const decorateAll = () => {
    for (const article of list.querySelectorAll(':scope > article.update')) decorate(article);
  };
  new MutationObserver(decorateAll).observe(list, { childList: true });
  decorateAll();
}

/** "N reading now": the blog's readers over every server, asked for every few seconds. */
function setupAudience() {
  const box = document.getElementById('reading-now');
  const count = document.getElementById('reading-count');
  if (!box || !count) return;
  const every = Math.max(1, Number(box.dataset.every) || 5) * 1000;
  const ask = async () => {
    try {
      const response = await fetch(box.dataset.url, { credentials: 'same-origin', cache: 'no-store' });
      if (response.ok) count.textContent = String((await response.json()).reading);
    } catch {
      // offline: the count waits for the next round
    }
    setTimeout(ask, every);
  };
  setTimeout(ask, every);
}

function main() {
  setupConfirm();
  setupAudience();
  setupControls();
  setupLocalTimes();
  setupCopy();
  const form = ['new-update', 'edit-update', 'edit-draft', 'edit-scheduled']
    .map((id) => document.getElementById(id)).find(Boolean);
  if (form) setupPreview(form);
  const publish = document.getElementById('new-update');
  if (publish) setupPublish(publish);
}

main();
