"""A blog's Atom and JSON Feed: well-formed, one entry per current update, nothing unescaped."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import datetime

import httpx
import pytest

from liveblog.feeds import atom_feed, entry_title, json_feed

from .conftest import Server, publish
from .markup import Elements

pytestmark = pytest.mark.timeout(60)
A = "{http://www.w3.org/2005/Atom}"
XML = "{http://www.w3.org/XML/1998/namespace}"
HOSTILE_TITLE = "</title><evil attr='x'>&amp; \"quoted\""
HOSTILE_BODY = (
    "<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n"
    "]]></content><entry>injected</entry> **bold**"
)


def assert_safe(html: str) -> None:
    """The hostile Markdown became text: only harmless tags, no handlers, no script URLs."""
    for tag, attrs in Elements(html).tags:
        assert tag in {"p", "strong", "em", "a", "figure", "img", "figcaption"}, html
        assert not any(name.startswith("on") for name in attrs), html
        assert not (attrs.get("href") or "").lower().startswith("javascript:"), html
    assert "<script" not in html.lower() and "<entry" not in html.lower()


async def test_atom_feed_has_one_entry_per_update_newest_first_and_escapes_everything(
    server: Server, api: httpx.AsyncClient, blog: str
):
    plain = await publish(api, blog, "Mr Guterres will visit **Kyiv** on April 28", key_event=True)
    hostile = await publish(api, blog, HOSTILE_BODY, title=HOSTILE_TITLE)
    gone = await publish(api, blog, "Deleted soon")
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{gone['id']}")).status_code == 204

    response = await api.get(f"/blogs/{blog}/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert b"<evil" not in response.content and b"<script" not in response.content
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{A}feed" and feed.get(f"{XML}lang") == "en"
    page_url = f"{server.url}/blogs/{blog}"
    assert feed.findtext(f"{A}title") == f"Blog {blog}"
    assert feed.findtext(f"{A}id") == page_url
    datetime.fromisoformat(feed.findtext(f"{A}updated") or "")
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert links == {"self": f"{page_url}/feed.atom", "alternate": page_url}

    entries = feed.findall(f"{A}entry")
    assert len(entries) == 2
    newest, oldest = entries
    assert newest.findtext(f"{A}id") == f"{server.url}{hostile['url']}"
    assert newest.findtext(f"{A}title") == HOSTILE_TITLE  # round-trips as text, never as markup
    assert newest.find(f"{A}link").get("href") == f"{server.url}{hostile['url']}"  # type: ignore[union-attr]
    assert newest.findtext(f"{A}author/{A}name")
    for entry in entries:
        datetime.fromisoformat(entry.findtext(f"{A}published") or "")
        datetime.fromisoformat(entry.findtext(f"{A}updated") or "")
        content = entry.find(f"{A}content")
        assert content is not None and content.get("type") == "html"
        assert_safe(content.text or "")
    assert "<strong>bold</strong>" in (newest.findtext(f"{A}content") or "")
    assert oldest.findtext(f"{A}id") == f"{server.url}{plain['url']}"
    assert oldest.findtext(f"{A}title") == "Mr Guterres will visit Kyiv on April 28"
    assert oldest.find(f"{A}category").get("term") == "key-event"  # type: ignore[union-attr]


async def test_json_feed_has_the_required_fields_and_one_item_per_update(
    server: Server, api: httpx.AsyncClient, blog: str
):
    published = [await publish(api, blog, f"Update {i}", title=f"U{i}") for i in range(3)]
    await publish(api, blog, HOSTILE_BODY, title=HOSTILE_TITLE)
    response = await api.get(f"/blogs/{blog}/feed.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/feed+json")
    feed = response.json()
    page_url = f"{server.url}/blogs/{blog}"
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == f"Blog {blog}"
    assert feed["home_page_url"] == page_url
    assert feed["feed_url"] == f"{page_url}/feed.json" and feed["language"] == "en"
    items = feed["items"]
    assert len(items) == 4
    assert [i["id"] for i in items[1:]] == [u["id"] for u in reversed(published)]
    for item in items:
        assert isinstance(item["id"], str) and item["id"]
        assert item["url"] == f"{page_url}/updates/{item['id']}"
        assert item["content_html"]
        datetime.fromisoformat(item["date_published"])
        datetime.fromisoformat(item["date_modified"])
        assert item["authors"][0]["name"]
        assert_safe(item["content_html"])
    assert items[0]["title"] == HOSTILE_TITLE
    assert items[1]["title"] == "U2"


async def test_each_feed_names_its_blogs_language(api: httpx.AsyncClient):
    """A feed reader (and a screen reader through it) reads a Ukrainian blog's entries as Ukrainian."""
    slug = f"feeds-lang-{uuid.uuid4().hex[:8]}"
    created = await api.post("/api/v1/blogs", json={"slug": slug, "title": "Наживо", "lang": "uk"})
    assert created.status_code == 201, created.text
    await publish(api, slug, "Генсек ООН відвідає Київ")
    atom = ET.fromstring((await api.get(f"/blogs/{slug}/feed.atom")).content)
    assert atom.get(f"{XML}lang") == "uk"
    assert (await api.get(f"/blogs/{slug}/feed.json")).json()["language"] == "uk"


async def test_feeds_of_an_unknown_blog_are_404(api: httpx.AsyncClient):
    for kind in ("atom", "json"):
        assert (await api.get(f"/blogs/no-such-blog/feed.{kind}")).status_code == 404


BLOG = {
    "slug": "b",
    "title": "T \x01 & <b>",
    "description": "",
    "url": "/blogs/b",
    "updated_at": "2024-04-24T10:00:00.000Z",
    "lang": "en",
}


def update(**fields: object) -> dict:
    base = {
        "id": "1713952800000-0",
        "title": None,
        "html": "<p>hi</p>",
        "image": None,
        "author": {"name": "Ed", "kind": "editor"},
        "key_event": False,
        "published_at": "2024-04-24T10:00:00.000Z",
        "updated_at": "2024-04-24T10:00:00.000Z",
        "url": "/blogs/b/updates/1713952800000-0",
    }
    return {**base, **fields}


def test_entry_title_falls_back_to_the_first_80_characters_of_the_text():
    assert entry_title(update(title="Given")) == "Given"
    assert entry_title(update(html="<p>Short <em>text</em> &amp; more</p>")) == "Short text & more"
    long = entry_title(update(html="<p>" + "word " * 40 + "</p>"))
    assert len(long) <= 80 and long.endswith("…")


def test_atom_drops_characters_xml_cannot_carry_and_escapes_image_fields():
    image = {"url": "https://img.example/a.jpg?x=1&y=2", "alt": '"><script>', "caption": "<b>c</b>"}
    feed = atom_feed(BLOG, [update(html="<p>bell \x07 here</p>", image=image)], "http://h/")
    root = ET.fromstring(feed)  # would raise on \x01 or \x07
    assert root.findtext(f"{A}title") == "T  & <b>"
    content = root.findtext(f"{A}entry/{A}content") or ""
    assert "<script>" not in content and "&lt;b&gt;c&lt;/b&gt;" in content
    assert 'src="https://img.example/a.jpg?x=1&amp;y=2"' in content
    assert json_feed(BLOG, [update(image=image)], "http://h/")["items"][0]["image"] == image["url"]
