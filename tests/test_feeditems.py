"""Others' feeds read into items, and an item into an update's Markdown: pure functions."""

from __future__ import annotations

import json

import pytest

from liveblog.feeditems import FeedError, item_markdown, item_title, parse
from liveblog.updates import render_body

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><guid>new</guid><title>  A *new*
 one </title><link>https://example.org/a?x=1&amp;y=(2)</link>
<description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt; [x](javascript:alert(1)) &amp;lt;img src=x onerror=y&amp;gt;&lt;/p&gt;&lt;script&gt;bad()&lt;/script&gt;&lt;p&gt;Second&lt;/p&gt;</description></item>
<item><title>Old</title><link>https://example.org/old</link></item>
</channel></rss>"""


def test_rss_items_oldest_first_known_by_guid_else_link():
    title, items = parse(RSS, "application/rss+xml")
    assert title == "Wire"
    assert [i["id"] for i in items] == ["https://example.org/old", "new"]


def test_an_items_html_becomes_escaped_text_and_its_link_and_renders_safely():
    _, items = parse(RSS, "application/rss+xml")
    body = item_markdown(items[-1])
    assert item_title(items[-1], 300) == "A *new* one"
    html = render_body(body)
    assert "<script" not in html and "bad()" not in html and "<b>" not in html
    assert "javascript:" not in html.replace("[x](javascript:alert(1))", "")  # shown as text only
    assert 'href="javascript' not in html and "<img" not in html
    assert "<p>Second</p>" in html
    assert 'href="https://example.org/a?x=1&amp;y=(2)"' in html


def test_a_link_that_is_not_http_is_left_out():
    item = {"id": "1", "title": "T", "html": "", "text": "Words", "link": "javascript:alert(1)"}
    assert item_markdown(item) == "Words"


def test_json_feed():
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [
            {"id": "2", "content_html": "<p>two</p>"},
            {"url": "https://example.org/1", "content_text": "one"},
        ],
    }
    title, items = parse(json.dumps(doc).encode(), "application/feed+json")
    assert title == "J" and [i["id"] for i in items] == ["https://example.org/1", "2"]
    assert item_markdown(items[1]) == "two"


@pytest.mark.parametrize(
    "body",
    [b"<<< not xml &&&", b"<html><body>a page</body></html>", b"{not json", b'{"items": []}', b""],
)
def test_what_is_no_feed_is_a_feed_error(body: bytes):
    with pytest.raises(FeedError):
        parse(body, "application/xml")
