// The embed's side of a frame that fits its content. In another site's iframe, /blogs/{slug}/embed
// tells the parent window its height whenever that changes (live updates, images loading, "Load
// more", a new width), with
//   {"type": "liveblog:height", "slug": SLUG, "height": N}   (CSS pixels, a whole number)
// which static/js/embed.js, on the host page, turns into the iframe's height. The message holds
// nothing but the height and the slug (which the iframe's src shows anyway), so it may go to any
// origin ("*"): the embed cannot know which site frames it. `{"type": "liveblog:measure"}` from the
// parent asks for the height again (embed.js asks when it starts after the frame has spoken).

export const HEIGHT = 'liveblog:height';
export const MEASURE = 'liveblog:measure';

export function setupFrame(slug) {
  if (window.parent === window) return; // not framed: nobody to tell
  const root = document.documentElement;
  let sent = -1;
  const send = (again) => {
    // The root element's own box (the content and the body's margins), not its scrollHeight: that
    // never falls below the frame's height, so the frame could grow but never shrink.
    const height = Math.ceil(root.getBoundingClientRect().height);
    if (height === sent && !again) return;
    sent = height;
    window.parent.postMessage({ type: HEIGHT, slug, height }, '*');
  };
  new ResizeObserver(() => send(false)).observe(root);
  window.addEventListener('message', (event) => {
    if (event.source === window.parent && event.data?.type === MEASURE) send(true);
  });
}
