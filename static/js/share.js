// The .update-share buttons: the share sheet where there is one (phones), else the update's
// permalink to the clipboard. Hidden in the server's HTML until this gives them something to do.

import { announce } from './announce.js';
import { t } from './strings.js';

const FEEDBACK_MS = 2000; // how long a share button says "Link copied"
const timers = new WeakMap();

async function copyText(text, returnFocus) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no Clipboard API (an insecure origin) or refused: the old way below
  }
  const area = document.createElement('textarea');
  area.className = 'visually-hidden';
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

function feedback(button, message) {
  clearTimeout(timers.get(button));
  button.textContent = message;
  button.classList.add('is-done');
  // Inside the aria-live list the new label is read out by itself; elsewhere say it.
  if (!button.closest('[aria-live]')) announce(message);
  timers.set(button, setTimeout(() => {
    button.textContent = t('share');
    button.classList.remove('is-done');
  }, FEEDBACK_MS));
}

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
  feedback(button, (await copyText(url, button)) ? t('linkCopied') : t('copyFailed'));
}

export function setupSharing() {
  for (const button of document.querySelectorAll('.update-share')) button.hidden = false;
  document.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('.update-share') : null;
    if (button) share(button);
  });
}
