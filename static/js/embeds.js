// Embed cards (liveblog/embeds.py renders them into an update's HTML): nothing of the third party
// loads until the reader clicks "Load content"; then the service's own embed iframe takes the
// button's place. One listener on the document, so the cards of updates that arrive live work
// too. The page's CSP (frame-src) lets only the known services' origins be framed.
// The button's words are stored in English in the update's HTML (the same for every page, feed
// and API): each card, on the page or arriving live, shows them in the page's language.

import { t } from './strings.js';

function load(button) {
  const card = button.closest('figure.embed[data-embed-src]');
  if (!card) return;
  let src;
  try {
    src = new URL(card.dataset.embedSrc);
  } catch {
    return;
  }
  if (src.protocol !== 'https:') return;
  const frame = document.createElement('iframe');
  frame.className = 'embed-frame';
  const service = card.dataset.embedService;
  frame.title = service ? t('embedContent', { service }) : t('embedded');
  frame.src = src.href;
  frame.allow = 'fullscreen; picture-in-picture; encrypted-media';
  frame.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-popups allow-popups-to-escape-sandbox allow-presentation');
  button.replaceWith(frame);
}

function label(root) {
  for (const button of root.querySelectorAll('.embed-load')) button.textContent = t('loadContent');
}

export function setupEmbeds() {
  document.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('.embed-load') : null;
    if (button) load(button);
  });
  label(document);
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) if (node instanceof Element) label(node);
    }
  }).observe(document.body, { childList: true, subtree: true });
}
