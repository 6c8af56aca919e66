// "Copy" buttons of the desk: button[data-copy="ID"] copies the value of the field #ID (the embed
// snippet's read-only textarea) to the clipboard and says so in #ID-status. Without JavaScript the
// button stays hidden and the field is there to select.

import { t } from './strings.js';

async function copy(field) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(field.value);
    return;
  }
  field.select(); // plain http off localhost has no Clipboard API
  if (!document.execCommand('copy')) throw new Error('copy refused');
}

export function setupCopy() {
  for (const button of document.querySelectorAll('button[data-copy]')) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(`${button.dataset.copy}-status`);
    if (!field) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      try {
        await copy(field);
        if (status) status.textContent = t('desk.copied');
      } catch {
        field.select();
        if (status) status.textContent = t('desk.copyByHand');
      }
    });
  }
}
