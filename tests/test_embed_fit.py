"""The embed on another site, fitted to its content: the desk's snippet on a host page served from
another origin, in a real Chromium (static/js/frame.js in the frame, static/js/embed.js on the
host), and the desk's Copy button."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Frame, Locator, Page, expect

from .browsing import log_in_at, needs_chromium, watch
from .conftest import PASSWORD, Server, add_user, desk_blog, logged_in, publish, until
from .endpoints import FeedServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120), needs_chromium]

HTML = "text/html; charset=utf-8"
# Every frame of the page (the embed's too) reports a CSP violation as a console error.
CSP_WATCH = """document.addEventListener('securitypolicyviolation', (event) => {
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
});"""
# A page of the host's own origin that speaks the embed's language to its parent: loaded into the
# liveblog iframe, its messages come from the iframe's window but not from the iframe's origin.
FORGER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Forger</title>
<link rel="icon" href="data:,"></head><body><script>
parent.postMessage({type: 'liveblog:height', slug: 'x', height: 40, forged: 'origin'}, '*');
</script></body></html>"""
# A frame of the host's own marked as a liveblog one: its height is believed, within the bound.
TALL = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tall</title>
<link rel="icon" href="data:,"></head><body><script>
parent.postMessage({type: 'liveblog:height', slug: 'x', height: 1e12}, '*');
</script></body></html>"""
LONG_BODY = "\n\n".join(
    f"Paragraph {n} of a long update, which makes the list much taller. " * 4 for n in range(8)
)


def host_page(snippet: str, head: str = "") -> bytes:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A newsroom elsewhere</title>
<link rel="icon" href="data:,">{head}</head>
<body><h1>Our story</h1><p>Above the live blog.</p>
{snippet}
<p id="below">Below the live blog.</p></body></html>""".encode()


def snippet_of(desk_html: str) -> str:
    """The embed snippet as an editor copies it from the desk: the textarea's text."""
    match = re.search(r'<textarea id="embed-code"[^>]*>(.*?)</textarea>', desk_html, re.S)
    assert match, "no #embed-code on the desk"
    return html.unescape(match.group(1))


@pytest.fixture
async def host() -> AsyncIterator[FeedServer]:
    """Another site: a real HTTP server on its own port, reached as `localhost` (another origin and
    another site than the liveblog server's 127.0.0.1)."""
    got = await FeedServer().start()
    yield got
    await got.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    opened = await browser.new_context(viewport={"width": 900, "height": 700})
    await opened.add_init_script(CSP_WATCH)
    yield opened
    await opened.close()


async def heights(iframe: Locator, frame: Frame) -> tuple[float, int, int]:
    """The iframe's height on the host page; the embed document's scroll height and the height of
    its content (its root element's box)."""
    outer = float(await iframe.evaluate("(f) => f.getBoundingClientRect().height"))
    scroll, content = await frame.evaluate(
        "[document.documentElement.scrollHeight,"
        " Math.ceil(document.documentElement.getBoundingClientRect().height)]"
    )
    return outer, int(scroll), int(content)


async def fitted(iframe: Locator, frame: Frame, moved: Callable[[float], bool]) -> float:
    """Wait until the iframe's height is `moved` (a test of it) and as tall as the embed's document
    and its content (within 2 px); returns that height."""

    async def fits() -> bool:
        outer, scroll, content = await heights(iframe, frame)
        return moved(outer) and abs(outer - scroll) <= 2 and abs(outer - content) <= 2

    await until(fits)
    return (await heights(iframe, frame))[0]


async def message_seen(page: Page, script: str, mark: str) -> None:
    """Run `script` on the host page and return once the host has received the message marked
    `forged: mark`: embed.js, whose listener was added before this one, has handled it too."""
    await page.evaluate(
        """([script, mark]) => new Promise((resolve) => {
          window.addEventListener('message', (event) => {
            if (event.data && event.data.forged === mark) resolve();
          });
          new Function(script)();
        })""",
        [script, mark],
    )


async def test_the_desk_snippet_fits_its_frame_on_another_site_as_updates_come_and_go(
    context: BrowserContext, server: Server, api: httpx.AsyncClient, desk: httpx.AsyncClient, host: FeedServer
):
    slug = await desk_blog(desk, "fit")
    title = 'Storms & "floods" <live>'
    response = await api.patch(f"/api/v1/blogs/{slug}", json={"title": title})
    assert response.status_code == 200, response.text
    # A paragraph that wraps onto more lines in a narrower frame.
    await publish(api, slug, "The first update, a paragraph of words. " * 12, title="It begins")
    snippet = snippet_of((await desk.get(f"/editor/{slug}")).text)
    assert snippet == (
        f'<iframe src="{server.url}/blogs/{slug}/embed" data-liveblog'
        ' title="Storms &amp; &#34;floods&#34; &lt;live&gt;"'
        ' loading="lazy"></iframe>'
        f'<script src="{server.url}/static/js/embed.js" async></script>'
    )
    host.files["/"] = (HTML, host_page(snippet))
    host.files["/forger"] = (HTML, FORGER.encode())
    host.files["/tall"] = (HTML, TALL.encode())
    site = f"http://localhost:{host.port}"

    page = await context.new_page()
    errors = watch(page)
    await page.goto(site + "/")
    iframe = page.locator("iframe[data-liveblog]")
    embed = page.frame_locator("iframe[data-liveblog]")
    await expect(embed.locator("#live-status")).to_have_text("live", timeout=15000)
    await expect(iframe).to_have_attribute("title", title)
    frame = await (await iframe.element_handle()).content_frame()
    assert frame is not None and frame.url == f"{server.url}/blogs/{slug}/embed"

    # Taller than an iframe's default 150 px, and exactly as tall as the embed's content.
    first = await fitted(iframe, frame, lambda height: height > 200)
    assert await page.evaluate("window.origin") != await frame.evaluate("window.origin")

    # A long update published through the API: the list grows, the frame with it.
    long = await publish(api, slug, LONG_BODY, title="A long one")
    await expect(embed.locator("#updates article.update")).to_have_count(2, timeout=15000)
    grown = await fitted(iframe, frame, lambda height: height > first + 300)

    # Deleted: the frame shrinks back to the content, not just its scroll height.
    response = await api.delete(f"/api/v1/blogs/{slug}/updates/{long['id']}")
    assert response.status_code == 204, response.text
    await expect(embed.locator("#updates article.update")).to_have_count(1, timeout=15000)
    shrunk = await fitted(iframe, frame, lambda height: height < grown - 300)
    assert abs(shrunk - first) <= 2

    # A narrower page: the paragraph wraps onto more lines, and the frame follows.
    await page.set_viewport_size({"width": 360, "height": 700})
    narrow = await fitted(iframe, frame, lambda height: height > shrunk + 100)

    # Messages of the right shape from the wrong window are ignored: the host page itself, and a
    # frame of the host's origin beside the embed.
    await message_seen(
        page,
        "window.postMessage({type: 'liveblog:height', slug: 'x', height: 40, forged: 'host'}, '*')",
        "host",
    )
    await message_seen(
        page,
        """const other = document.createElement('iframe');
        other.srcdoc = "<script>parent.postMessage({type: 'liveblog:height', slug: 'x', height: 40,"
          + " forged: 'sibling'}, '*')</scr" + "ipt>";
        document.body.append(other);""",
        "sibling",
    )
    outer, scroll, content = await heights(iframe, frame)
    assert abs(outer - narrow) < 1 and abs(outer - scroll) <= 2 and abs(outer - content) <= 2
    assert errors == []

    # From the embed's window, but from another origin (the host navigated the iframe to a page of
    # its own; the iframe's src still names the embed): ignored too.
    await message_seen(
        page,
        f"document.querySelector('iframe[data-liveblog]').contentWindow.location.href = '{site}/forger'",
        "origin",
    )
    assert abs(float(await iframe.evaluate("(f) => f.getBoundingClientRect().height")) - narrow) < 1

    # A liveblog frame's height is at most 100,000 px.
    await page.evaluate(
        """(src) => { const tall = document.createElement('iframe');
          tall.id = 'tall'; tall.dataset.liveblog = ''; tall.src = src; document.body.append(tall); }""",
        f"{site}/tall",
    )
    await expect(page.locator("iframe#tall")).to_have_attribute(
        "style", "width: 100%; border: 0px; height: 100000px;"
    )
    assert errors == []
    await page.close()

    # A host whose CSP forbids inline styles, and every script but the embed's, takes the snippet
    # as it is: no violation, and the frame as wide as its container, borderless and fitted.
    policy = f"default-src 'self'; script-src {server.url}; frame-src {server.url}; style-src 'self'; img-src data:"
    host.files["/strict"] = (
        HTML,
        host_page(snippet, f'<meta http-equiv="Content-Security-Policy" content="{policy}">'),
    )
    page = await context.new_page()
    errors = watch(page)
    await page.goto(site + "/strict")
    await expect(page.frame_locator("iframe[data-liveblog]").locator("#live-status")).to_have_text(
        "live", timeout=15000
    )
    iframe = page.locator("iframe[data-liveblog]")
    frame = await (await iframe.element_handle()).content_frame()
    assert frame is not None
    await fitted(iframe, frame, lambda height: height > 200)
    width, room, border = await iframe.evaluate(
        "(f) => [f.getBoundingClientRect().width, f.parentElement.clientWidth, getComputedStyle(f).borderTopWidth]"
    )
    assert abs(width - room) < 1 and border == "0px", (width, room, border)
    assert errors == []
    await page.close()


async def test_the_desk_copies_the_embed_snippet(
    browser: Browser, server: Server, admin: str, desk: httpx.AsyncClient
):
    slug = await desk_blog(desk, "copy")
    context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    errors = watch(page)
    await log_in_at(page, f"{server.url}/editor/{slug}", admin, PASSWORD)
    code = page.locator("textarea#embed-code")
    await expect(code).to_have_attribute("readonly", "")
    snippet = await code.input_value()
    assert f'src="{server.url}/blogs/{slug}/embed"' in snippet
    assert f'<script src="{server.url}/static/js/embed.js" async></script>' in snippet

    await page.click("#embed-copy")  # hidden without JavaScript, shown by static/js/copy.js
    await expect(page.locator("#embed-code-status")).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == snippet
    assert errors == []
    await context.close()


async def test_the_snippet_names_the_public_url_when_one_is_set(tmp_path: Path):
    """Absolute URLs on the public URL, whatever Host the editor reached the desk by."""
    srv = Server(tmp_path / "data", public_url="http://news.example")
    srv.start()
    try:
        async with logged_in(srv, add_user(srv, "chief", "admin")) as desk:
            slug = await desk_blog(desk, "public")
            snippet = snippet_of((await desk.get(f"/editor/{slug}")).text)
    finally:
        srv.stop()
    assert f'<iframe src="http://news.example/blogs/{slug}/embed" data-liveblog' in snippet
    assert snippet.endswith('<script src="http://news.example/static/js/embed.js" async></script>')
