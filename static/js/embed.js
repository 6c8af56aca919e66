/*
 * liveblog embed: include this script on a page that frames a live blog, and each of the blog's
 * iframes takes the width of its container, no border, and the height of its content, as updates
 * arrive, change or go:
 *
 *   <iframe src="https://LIVEBLOG/blogs/SLUG/embed" data-liveblog title="..." loading="lazy"></iframe>
 *   <script src="https://LIVEBLOG/static/js/embed.js" async></script>
 *
 * The snippet has no style attribute, so a host page whose Content-Security-Policy forbids inline
 * styles (no 'unsafe-inline' in style-src) takes it as it is: the styles are set here, through
 * the CSSOM, which that policy allows.
 *
 * The embed (static/js/frame.js) posts {"type": "liveblog:height", "slug", "height"} to its parent.
 * A message is believed only from the window of one of this page's liveblog iframes (with
 * data-liveblog, or a src at /blogs/SLUG/embed) and from that iframe's origin; a height is at most
 * MAX_HEIGHT. A classic script with no dependencies: its URL, /static/js/embed.js, stays the same.
 */
(function () {
  'use strict';

  var HEIGHT = 'liveblog:height';
  var MEASURE = 'liveblog:measure';
  var MAX_HEIGHT = 100000;
  var EMBED_PATH = /^\/blogs\/[^/]+\/embed\/?$/;

  function urlOf(frame) {
    try {
      return new URL(frame.getAttribute('src') || '', document.baseURI);
    } catch (error) {
      return null;
    }
  }

  function liveblogFrames() {
    var frames = [];
    var all = document.getElementsByTagName('iframe');
    for (var i = 0; i < all.length; i += 1) {
      var url = urlOf(all[i]);
      if (url && (all[i].hasAttribute('data-liveblog') || EMBED_PATH.test(url.pathname))) {
        frames.push({ frame: all[i], origin: url.origin });
      }
    }
    return frames;
  }

  function fit(frame) {
    frame.style.width = '100%';
    frame.style.border = '0';
  }

  window.addEventListener('message', function (event) {
    var data = event.data;
    if (!event.source || !data || typeof data !== 'object' || data.type !== HEIGHT) return;
    var height = data.height;
    if (typeof height !== 'number' || !isFinite(height) || height < 0) return;
    var frames = liveblogFrames();
    for (var i = 0; i < frames.length; i += 1) {
      if (frames[i].frame.contentWindow !== event.source) continue;
      if (frames[i].origin !== event.origin) return;
      fit(frames[i].frame);
      frames[i].frame.style.height = Math.min(Math.ceil(height), MAX_HEIGHT) + 'px';
      return;
    }
  });

  // Frames that spoke before this script ran: fit them, and ask them again. The question holds no data, so it
  // goes to any origin: a frame that has not loaded yet (about:blank) drops it, and speaks itself
  // once loaded.
  var frames = liveblogFrames();
  for (var i = 0; i < frames.length; i += 1) {
    fit(frames[i].frame);
    if (frames[i].frame.contentWindow) frames[i].frame.contentWindow.postMessage({ type: MEASURE }, '*');
  }
})();
