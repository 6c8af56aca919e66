"""Embeds without tracking (issue 15): a paragraph holding only a known service's post URL renders
as a card (service, link, "Load content"); nothing of the third party loads until the reader
clicks, then the service's embed iframe comes, under a CSP whose frame-src names only them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from liveblog.embeds import FRAME_ORIGINS, MASTODON_HOSTS
from liveblog.render import markdown_to_html, sanitize

from .browsing import needs_chromium, watch
from .conftest import Server, publish
from .markup import Elements

pytestmark = pytest.mark.timeout(90)

YOUTUBE = "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
SHAPES = [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "YouTube", YOUTUBE),
    ("https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42", "YouTube", YOUTUBE),
    ("https://m.youtube.com/shorts/dQw4w9WgXcQ", "YouTube", YOUTUBE),
    ("https://www.youtube.com/live/dQw4w9WgXcQ?si=abc", "YouTube", YOUTUBE),
    ("https://youtu.be/dQw4w9WgXcQ", "YouTube", YOUTUBE),
    ("https://x.com/UN/status/1518412345678901234", "X",
     "https://platform.twitter.com/embed/Tweet.html?id=1518412345678901234"),
    ("https://twitter.com/antonioguterres/status/20?s=20", "X",
     "https://platform.twitter.com/embed/Tweet.html?id=20"),
    ("https://bsky.app/profile/un.org/post/3kqz2abcdxyz2", "Bluesky",
     "https://embed.bsky.app/embed/un.org/app.bsky.feed.post/3kqz2abcdxyz2"),
    ("https://bsky.app/profile/did:plc:abc123/post/3kqz2abcdxyz2", "Bluesky",
     "https://embed.bsky.app/embed/did:plc:abc123/app.bsky.feed.post/3kqz2abcdxyz2"),
    ("https://www.instagram.com/p/C5abcDEF12/", "Instagram", "https://www.instagram.com/p/C5abcDEF12/embed/"),
    ("https://instagram.com/reel/C5abcDEF12", "Instagram", "https://www.instagram.com/reel/C5abcDEF12/embed/"),
    ("https://www.tiktok.com/@bbcnews/video/7351234567890123456", "TikTok",
     "https://www.tiktok.com/player/v1/7351234567890123456"),
    ("https://t.me/ukrpravda_news/123456", "Telegram", "https://t.me/ukrpravda_news/123456?embed=1"),
    ("https://mastodon.social/@Gargron/109312345678901234", "Mastodon",
     "https://mastodon.social/@Gargron/109312345678901234/embed"),
]  # fmt: skip


def cards(html: str) -> list[dict[str, str]]:
    return Elements(html).with_class("embed")


@pytest.mark.parametrize(("url", "service", "frame"), SHAPES)
@pytest.mark.parametrize("written", ["{}", "<{}>", "  {}  "])
def test_a_paragraph_of_only_a_known_post_url_is_a_card(url, service, frame, written):
    html = markdown_to_html(written.format(url))
    [card] = cards(html)
    assert card["data-embed-service"] == service and card["data-embed-src"] == frame
    link = next(a for tag, a in Elements(html).tags if tag == "a")
    assert link["href"] == url and f"<strong>{service}</strong>" in html
    assert '<button type="button" class="embed-load">Load content</button>' in html
    # nothing in the card fetches anything: no iframe, script, image, and the frame only as data
    assert not re.search(r"<(iframe|script|img|object|embed|link)\b", html)
    assert all(not (a.get("src") or a.get("srcset")) for _, a in Elements(html).tags)
    assert urlsplit(frame)._replace(path="", query="").geturl() in FRAME_ORIGINS


@pytest.mark.parametrize(
    "source",
    [
        "https://example.com/watch?v=dQw4w9WgXcQ",  # not a known service
        "https://www.youtube.com/watch?v=short",  # not a video ID
        "https://www.youtube.com/@UN",  # a channel, not a video
        "https://x.com/UN",  # a profile, not a post
        "https://x.com.evil.example/UN/status/1",  # a look-alike host
        "https://x.com:8443/UN/status/1",  # a port
        "https://user@x.com/UN/status/1",  # a user
        "javascript://x.com/UN/status/1",
        "https://mastodon.example/@someone/109312345678901234",  # an instance we may not frame
        "https://t.me/ukrpravda_news",
        "https://www.tiktok.com/@bbcnews",
    ],
)
def test_other_urls_stay_as_they_were(source):
    html = markdown_to_html(source)
    assert cards(html) == [] and "embed" not in html
    assert markdown_to_html(f"<{source}>").startswith(("<p><a href=", "<p>&lt;"))


def test_a_url_inside_a_sentence_or_a_list_stays_a_link():
    url = "https://youtu.be/dQw4w9WgXcQ"
    for source in (
        f"Watch <{url}> now",
        f"Watch {url} now",
        f"- {url}",
        f"[the speech]({url})",
        f"**{url}**",
    ):
        html = markdown_to_html(source)
        assert cards(html) == [] and "data-embed" not in html, source
    assert f'<a href="{url}"' in markdown_to_html(f"Watch <{url}> now")
    # one card per such paragraph, the text around it untouched
    html = markdown_to_html(f"Before.\n\n{url}\n\nhttps://t.me/ukrpravda_news/1\n\nAfter *this*.")
    assert [c["data-embed-service"] for c in cards(html)] == ["YouTube", "Telegram"]
    assert html.startswith("<p>Before.</p>") and html.endswith("<p>After <em>this</em>.</p>")


def test_the_body_cannot_make_a_card_of_its_own():
    forged = (
        '<figure class="embed" data-embed-src="https://evil.example/x"><button>Load content</button></figure>'
    )
    html = markdown_to_html(forged)
    assert "<figure" not in html and "&lt;figure" in html


@pytest.mark.parametrize(
    "html",
    [
        '<figure class="embed" data-embed-src="javascript:alert(1)"></figure>',
        '<figure class="embed" data-embed-src="https://evil.example/embed/x"></figure>',
        '<figure class="embed" data-embed-src="https://www.youtube-nocookie.com.evil.example/x"></figure>',
        '<figure class="embed" data-embed-src=" https://www.youtube-nocookie.com/embed/x"></figure>',
        '<p data-embed-src="https://www.youtube-nocookie.com/embed/x">x</p>',
    ],
)
def test_the_sanitizer_lets_a_card_name_only_a_service_frame(html):
    assert "data-embed-src" not in sanitize(html)


def test_the_sanitizer_keeps_only_what_a_card_needs():
    cleaned = sanitize(
        '<figure class="embed other" data-embed-service="X" data-embed-src="https://platform.twitter.com/embed/x" '
        'data-other="1" onclick="x()"><figcaption class="c">X</figcaption>'
        '<button type="submit" class="embed-load big" formaction="/x" onclick="x()">Load content</button></figure>'
        '<div class="embed">no</div><p class="embed">no</p><button>plain</button>'
    )
    assert cleaned == (
        '<figure class="embed" data-embed-service="X" data-embed-src="https://platform.twitter.com/embed/x">'
        '<figcaption>X</figcaption><button type="button" class="embed-load">Load content</button></figure>'
        "no<p>no</p><button>plain</button>"
    )


def test_mastodon_cards_are_for_instances_the_csp_may_frame():
    for host in MASTODON_HOSTS:
        assert f"https://{host}" in FRAME_ORIGINS
        assert cards(markdown_to_html(f"https://{host}/@someone/1093"))


async def test_pages_frame_only_the_services(api: httpx.AsyncClient, blog: str):
    for path in (f"/blogs/{blog}", f"/blogs/{blog}/embed", "/"):
        policy = (await api.get(path)).headers["content-security-policy"]
        [frame_src] = [d.split()[1:] for d in policy.split(";") if d.split()[0] == "frame-src"]
        assert sorted(frame_src) == sorted(FRAME_ORIGINS), path
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy


@pytest.mark.browser
@needs_chromium
async def test_a_card_loads_nothing_of_the_service_until_clicked(browser: Browser, server: Server, api, blog):
    await publish(api, blog, "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    context = await browser.new_context()
    requests: list[str] = []

    async def no_network(route: Route) -> None:
        await route.abort()  # the machine has no network: fail at once rather than wait for DNS

    try:
        await context.route(lambda url: not url.startswith(server.url), no_network)
        for path in (f"/blogs/{blog}", f"/blogs/{blog}/embed"):
            requests.clear()
            page = await context.new_page()
            errors = watch(page)
            page.on("request", lambda request: requests.append(request.url))
            await page.goto(server.url + path)
            await expect(page.locator("#live-status")).to_have_text("live")
            card = page.locator('figure.embed[data-embed-service="YouTube"]')
            await expect(card.locator("figcaption")).to_contain_text("YouTube")
            await expect(card.locator("iframe")).to_have_count(0)

            # an update that arrives live gets a working card too
            await publish(api, blog, "https://x.com/UN/status/1518412345678901234")
            live = page.locator('figure.embed[data-embed-service="X"]')
            await expect(live).to_have_count(1)

            third_party = [u for u in requests if not u.startswith(server.url)]
            assert third_party == [], third_party
            await card.locator("button.embed-load").click()
            await expect(card.locator(f'iframe[src="{YOUTUBE}"]')).to_have_count(1)
            await expect(card.locator("button.embed-load")).to_have_count(0)
            await live.locator("button.embed-load").click()
            tweet = "https://platform.twitter.com/embed/Tweet.html?id=1518412345678901234"
            await expect(live.locator(f'iframe[src="{tweet}"]')).to_have_count(1)
            assert [u for u in requests if not u.startswith(server.url)] == [YOUTUBE, tweet]
            assert [e for e in errors if "ERR_FAILED" not in e] == []
            await page.close()
            await api.delete(f"/api/v1/blogs/{blog}/updates/" + (await _latest_id(api, blog)))
    finally:
        await context.close()


async def _latest_id(api: httpx.AsyncClient, blog: str) -> str:
    update_id: str = (await api.get(f"/api/v1/blogs/{blog}/updates?limit=1")).json()["updates"][0]["id"]
    return update_id
