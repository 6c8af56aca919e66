// liveblog editor helpers (progressive enhancement: every form also works without JS).
// - form#new-update is posted with fetch (Accept: application/json); on success the form is
//   cleared and the update arrives through the page's live stream (static/js/liveblog.js);
//   on failure #form-error shows the problem and the typed text stays.
// - a debounced live preview of the Markdown body, rendered by the server's sanitizer.
// - confirm() before a delete, a cancel or a removal (CONFIRMS); edit/pin/key-event/delete
//   controls for updates that arrive live; a scheduled update (202) reloads the page, so
//   #scheduled lists it.

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

function setupPublish(form) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    showError('');
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        body: new FormData(form),
        headers: { Accept: 'application/json' },
        credentials: 'same-origin',
      });
      if (response.status === 202) {
        form.reset();
        window.location.reload(); // scheduled: the desk's #scheduled list shows it
      } else if (response.ok) {
        form.reset();
      } else {
        showError(await problemText(response));
      }
    } catch (error) {
      showError(`Not sent: ${error.message || 'the network is unreachable'}. Your text is kept.`);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

// Forms that ask first, by class: dismissing the question keeps the thing.
const CONFIRMS = {
  'control-delete': 'Delete this update?',
  'control-cancel': 'Cancel this scheduled update?',
  'control-revoke': 'Revoke this token?',
  'control-remove': 'Remove this user?',
  'control-remove-webhook': 'Remove this webhook?',
  'control-remove-feed': 'Stop following this feed?',
};

function setupConfirm() {
  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const control = Object.keys(CONFIRMS).find((name) => form.classList.contains(name));
    if (control && !window.confirm(CONFIRMS[control])) event.preventDefault();
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

function main() {
  setupConfirm();
  setupControls();
  const form = document.getElementById('new-update') || document.getElementById('edit-update');
  if (form) setupPreview(form);
  const publish = document.getElementById('new-update');
  if (publish) setupPublish(publish);
}

main();
