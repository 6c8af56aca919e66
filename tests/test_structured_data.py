"""Structured data and sharing (issue 16, DATA): the reader page's LiveBlogPosting and a
permalink page's BlogPosting JSON-LD with the properties Google's LiveBlogPosting and Article
guidance asks for, absolute Open Graph tags, a blog's cover image (uploaded or an https URL), the
publisher from `LIVEBLOG_PUBLISHER_*`, the permalink page's h1 and title, and the permalink page
following edits and deletes live."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from liveblog.settings import Settings

from .browsing import log_in_at, needs_chromium, watch
from .conftest import PASSWORD, Server, add_user, csrf_of, logged_in, publish
from .markup import Elements
from .test_media import png, upload

pytestmark = pytest.mark.timeout(90)

PUBLIC = "https://live.example.com"
PUBLISHER = {"publisher_name": "Kyiv Daily", "publisher_url": "https://kyiv-daily.example/"}
LOGO = "https://kyiv-daily.example/logo.png"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def json_ld(html: str) -> list[dict[str, Any]]:
    """Every JSON-LD block of the page, parsed."""
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return [json.loads(block) for block in blocks]


def meta(html: str) -> dict[str, str]:
    """The page's <meta property|name=... content=...>, by property or name."""
    found = {}
    for tag, attrs in Elements(html).tags:
        if tag == "meta" and "content" in attrs and (attrs.get("property") or attrs.get("name")):
            found[attrs.get("property") or attrs["name"]] = attrs["content"]
    return found


def canonical(html: str) -> str:
    return next(a["href"] for tag, a in Elements(html).tags if tag == "link" and a.get("rel") == "canonical")


def h1_text(html: str) -> str:
    """The visible text of the page's one <h1> (its hidden span left out)."""
    [h1] = re.findall(r"<h1\b.*?</h1>", html, re.S)
    visible = re.sub(r"<span[^>]*\bhidden\b[^>]*>.*?</span>", "", h1, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", "", visible).split())


def title_of(html: str) -> str:
    [title] = re.findall(r"<title>(.*?)</title>", html, re.S)
    return title


def assert_absolute(url: Any, origin: str) -> None:
    assert isinstance(url, str) and url.startswith(origin + "/"), url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a public URL and its own publisher."""
    srv = Server(
        tmp_path_factory.mktemp("structured") / "data", public_url=PUBLIC, publisher_logo=LOGO, **PUBLISHER
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def site_token(site: Server) -> str:
    return site.token("structured-admin")


@pytest.fixture
async def site_api(site: Server, site_token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {site_token}"}
    async with httpx.AsyncClient(base_url=site.url, headers=headers, timeout=10) as client:
        yield client


# -- the reader page's LiveBlogPosting ---------------------------------------------------------


async def test_the_reader_page_carries_a_complete_live_blog_posting(site_api):
    """Google's LiveBlogPosting: headline, description, coverage times, image, publisher with
    name, url and logo, mainEntityOfPage, inLanguage, and each update with headline, datePublished,
    url and its image; every URL absolute on the public URL, og tags too."""
    api = site_api
    cover = "https://images.example/cover.jpg"
    created = await api.post(
        "/api/v1/blogs",
        json={
            "slug": "war",
            "title": "War latest",
            "description": "What we know",
            "cover": {"url": cover, "alt": "Kyiv"},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["cover"] == {"url": cover, "alt": "Kyiv"}
    media = (await upload(api, "war", png((1200, 800)))).json()
    pictured = await publish(
        api, "war", "Sirens in **Kyiv**", title="Air raid", image={"media": media["id"], "alt": "Sky"}
    )
    untitled = await publish(api, "war", "A second update without a title")

    page = (await api.get("/blogs/war", headers={"Host": "evil.example"})).text
    [ld] = json_ld(page)
    url = f"{PUBLIC}/blogs/war"
    assert ld["@context"] == "https://schema.org" and ld["@type"] == "LiveBlogPosting"
    assert ld["url"] == ld["@id"] == ld["mainEntityOfPage"] == canonical(page) == url
    assert ld["headline"] == "War latest" and ld["description"] == "What we know"
    assert ld["inLanguage"] == "en"
    assert RFC3339.match(ld["coverageStartTime"]) and RFC3339.match(ld["datePublished"])
    assert "coverageEndTime" not in ld  # live
    assert ld["image"] == {"@type": "ImageObject", "url": cover}
    assert ld["publisher"] == {
        "@type": "Organization",
        "name": "Kyiv Daily",
        "url": "https://kyiv-daily.example/",
        "logo": {"@type": "ImageObject", "url": LOGO},
    }
    newest, oldest = ld["liveBlogUpdate"]
    assert newest["@type"] == oldest["@type"] == "BlogPosting"
    assert (
        newest["url"] == f"{url}#update-{untitled['id']}"
        and oldest["url"] == f"{url}#update-{pictured['id']}"
    )
    assert newest["headline"] == "A second update without a title" and oldest["headline"] == "Air raid"
    assert oldest["articleBody"] == "Sirens in Kyiv"
    assert oldest["datePublished"] == pictured["published_at"] and RFC3339.match(newest["datePublished"])
    assert oldest["image"] == {
        "@type": "ImageObject",
        "url": PUBLIC + media["url"],
        "width": 1200,
        "height": 800,
    }
    assert "image" not in newest

    tags = meta(page)
    assert tags["og:url"] == url and tags["og:site_name"] == "Kyiv Daily"
    assert tags["og:image"] == cover and tags["og:image:alt"] == "Kyiv"
    assert "og:image:width" not in tags  # an image elsewhere: its size is not known
    assert tags["twitter:card"] == "summary_large_image"
    assert "evil.example" not in page

    ended = await api.patch("/api/v1/blogs/war", json={"status": "ended"})
    [ld] = json_ld((await api.get("/blogs/war")).text)
    assert ld["coverageEndTime"] == ended.json()["ended_at"]


async def test_defaults_publisher_is_liveblog_on_this_site_with_its_logo(server, api, blog):
    """Unset LIVEBLOG_PUBLISHER_*: "liveblog", this site's / and the logo it ships, which is served."""
    page = (await api.get(f"/blogs/{blog}")).text
    [ld] = json_ld(page)
    assert ld["publisher"] == {
        "@type": "Organization",
        "name": "liveblog",
        "url": server.url + "/",
        "logo": {"@type": "ImageObject", "url": server.url + "/static/img/logo.png"},
    }
    logo = await api.get("/static/img/logo.png")
    assert logo.status_code == 200 and logo.content.startswith(b"\x89PNG")
    assert "image" not in ld and "og:image" not in meta(page)
    assert meta(page)["twitter:card"] == "summary"


# -- the cover image through the API -------------------------------------------------------------


async def test_a_cover_uploaded_to_the_blog_gives_og_image_with_its_size(server, api, blog):
    media = (await upload(api, blog, png((1600, 900)))).json()
    response = await api.patch(
        f"/api/v1/blogs/{blog}", json={"cover": {"media": media["id"], "alt": "A map"}}
    )
    assert response.status_code == 200, response.text
    stored = {"url": media["url"], "alt": "A map", "media": media["id"], "width": 1600, "height": 900}
    assert response.json()["cover"] == stored
    assert (await api.get(f"/api/v1/blogs/{blog}")).json()["cover"] == stored

    page = (await api.get(f"/blogs/{blog}")).text
    tags = meta(page)
    assert tags["og:image"] == server.url + media["url"]
    assert (tags["og:image:width"], tags["og:image:height"], tags["og:image:alt"]) == ("1600", "900", "A map")
    [ld] = json_ld(page)
    assert ld["image"] == {
        "@type": "ImageObject",
        "url": server.url + media["url"],
        "width": 1600,
        "height": 900,
    }
    served = await api.get(tags["og:image"].removeprefix(server.url))
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"

    removed = await api.patch(f"/api/v1/blogs/{blog}", json={"cover": None})
    assert removed.status_code == 200 and removed.json()["cover"] is None
    page = (await api.get(f"/blogs/{blog}")).text
    assert "og:image" not in meta(page) and "image" not in json_ld(page)[0]


async def test_a_cover_change_reaches_readers_as_blog_updated_with_the_cover(server, api, blog):
    """The stream's `blog.updated` meta carries the cover as an object, not the stored JSON."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as reader:
        async with reader.stream("GET", f"/api/v1/blogs/{blog}/events") as events:
            await api.patch(f"/api/v1/blogs/{blog}", json={"cover": {"url": "https://x.example/c.png"}})
            async for line in events.aiter_lines():
                if line.startswith("data:"):
                    data = json.loads(line[5:])
                    break
    assert data["type"] == "blog.updated"
    assert data["meta"]["cover"] == {"url": "https://x.example/c.png", "alt": ""}


@pytest.mark.parametrize(
    ("cover", "field"),
    [
        ({"url": "http://images.example/a.jpg"}, "cover.url"),
        ({"url": "javascript:alert(1)"}, "cover.url"),
        ({"url": "https://"}, "cover.url"),
        ({"url": "not a url"}, "cover.url"),
        ({"media": "0" * 32}, "cover.media"),  # no such upload
        ({"media": "../../etc"}, "cover.media"),
        ({"url": "https://a.example/x.png", "media": "0" * 32}, "cover"),
        ({"alt": "nothing"}, "cover"),
        ({"url": "https://a.example/x.png", "size": 3}, "cover.size"),
        ("https://a.example/x.png", "cover"),
    ],
)
async def test_a_bad_cover_is_422_naming_the_field(api, blog, cover, field):
    for response in (
        await api.patch(f"/api/v1/blogs/{blog}", json={"cover": cover}),
        await api.post("/api/v1/blogs", json={"slug": f"{blog}-c", "title": "C", "cover": cover}),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"].startswith(f"{field}:"), response.json()
    assert (await api.get(f"/api/v1/blogs/{blog}-c")).status_code == 404  # nothing created
    assert (await api.get(f"/api/v1/blogs/{blog}")).json()["cover"] is None


async def test_another_blogs_upload_is_no_cover(api, blog):
    other = f"{blog}-other"
    assert (await api.post("/api/v1/blogs", json={"slug": other, "title": "Other"})).status_code == 201
    media = (await upload(api, other, png())).json()
    response = await api.patch(f"/api/v1/blogs/{blog}", json={"cover": {"media": media["id"]}})
    assert response.status_code == 422 and "cover.media" in response.json()["detail"]


# -- the permalink page ------------------------------------------------------------------------


async def test_the_permalink_page_has_its_own_blog_posting_and_absolute_og_tags(site_api):
    api = site_api
    slug = "perma"
    cover = "https://images.example/perma.jpg"
    created = await api.post(
        "/api/v1/blogs", json={"slug": slug, "title": "Perma blog", "cover": {"url": cover}}
    )
    assert created.status_code == 201
    media = (await upload(api, slug, png((960, 540)))).json()
    pictured = await publish(
        api, slug, "Body of *it*", title="With a picture", image={"media": media["id"], "alt": "Smoke"}
    )
    plain = await publish(api, slug, "No picture here")

    url = f"{PUBLIC}/blogs/{slug}/updates/{pictured['id']}"
    page = (await api.get(pictured["url"], headers={"Host": "evil.example"})).text
    assert canonical(page) == url and "evil.example" not in page
    tags = meta(page)
    assert tags["og:url"] == url and tags["og:type"] == "article" and tags["og:title"] == "With a picture"
    assert tags["og:image"] == PUBLIC + media["url"] and tags["og:image:alt"] == "Smoke"
    assert (tags["og:image:width"], tags["og:image:height"]) == ("960", "540")
    assert tags["twitter:card"] == "summary_large_image"

    [ld] = json_ld(page)
    assert ld["@context"] == "https://schema.org" and ld["@type"] == "BlogPosting"
    assert ld["url"] == ld["@id"] == ld["mainEntityOfPage"] == url
    assert ld["headline"] == "With a picture" and ld["articleBody"] == "Body of it"
    assert ld["datePublished"] == pictured["published_at"] and ld["dateModified"] == pictured["updated_at"]
    assert ld["author"] == {"@type": "Organization", "name": "structured-admin"}  # a bot
    assert ld["image"] == {"@type": "ImageObject", "url": PUBLIC + media["url"], "width": 960, "height": 540}
    assert ld["publisher"]["name"] == "Kyiv Daily" and ld["publisher"]["logo"]["url"] == LOGO
    assert ld["inLanguage"] == "en"
    assert ld["isPartOf"] == {
        "@type": "LiveBlogPosting",
        "@id": f"{PUBLIC}/blogs/{slug}",
        "url": f"{PUBLIC}/blogs/{slug}",
        "headline": "Perma blog",
    }

    # Without an image of its own, the blog's cover.
    page = (await api.get(plain["url"])).text
    assert meta(page)["og:image"] == cover
    assert json_ld(page)[0]["image"] == {"@type": "ImageObject", "url": cover}


async def test_the_permalink_h1_and_title_for_titled_and_untitled_updates(api, blog):
    titled = await publish(api, blog, "Some text", title="Guterres in Kyiv")
    page = (await api.get(titled["url"])).text
    assert h1_text(page) == "Guterres in Kyiv"
    assert title_of(page) == f"Guterres in Kyiv — Blog {blog}"

    words = "The UN secretary general met President Zelensky in Kyiv on Thursday afternoon, " * 3
    untitled = await publish(api, blog, words)
    page = (await api.get(untitled["url"])).text
    hhmm = untitled["published_at"][11:16]
    assert h1_text(page) == f"Update at {hhmm} · Blog {blog}"
    title = title_of(page)
    assert title.startswith("The UN secretary general met") and title.endswith(f"… — Blog {blog}")
    assert len(title.removesuffix(f" — Blog {blog}")) <= 60
    [ld] = json_ld(page)
    assert ld["headline"] == words.strip()[:109] + "…"  # at most 110 characters


# -- live -----------------------------------------------------------------------------------------


@needs_chromium
async def test_an_open_permalink_page_shows_an_edit_and_a_delete_live(browser, server, api, blog):
    update = await publish(api, blog, "First version of the text")
    other = await publish(api, blog, "Another update")
    page = await browser.new_page()
    errors = watch(page)
    await page.goto(server.url + update["url"])
    article = page.locator(f"#permalink article#update-{update['id']}")
    await expect(article.locator(".update-body")).to_have_text("First version of the text")
    await expect(page.locator("#update-heading .heading-untitled")).to_be_visible()

    # The page resumes its stream from the event it was rendered at: an edit made before the
    # stream is open reaches it too.
    edited = await api.patch(
        f"/api/v1/blogs/{blog}/updates/{update['id']}",
        json={"title": "Now titled", "body": "Second **version**"},
    )
    assert edited.status_code == 200
    await expect(article.locator(".update-body")).to_have_text("Second version")
    await expect(page.locator("#update-heading .heading-title")).to_have_text("Now titled")
    await expect(page.locator("#update-heading .heading-untitled")).to_be_hidden()
    await expect(page).to_have_title(f"Now titled — Blog {blog}")

    # Another update's edit changes nothing here.
    await api.patch(f"/api/v1/blogs/{blog}/updates/{other['id']}", json={"body": "Elsewhere"})
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{update['id']}")).status_code == 204
    await expect(page.locator("#update-deleted")).to_be_visible()
    await expect(page.locator("#update-deleted")).to_have_text("This update has been deleted.")
    await expect(article).to_have_count(0)
    await expect(page.locator("#permalink article")).to_have_count(0)
    assert errors == []
    await page.close()


# -- the desk's blog settings form ------------------------------------------------------------------


async def test_the_desk_settings_form_sets_and_removes_the_cover_without_javascript(
    server, api, blog, editor
):
    async with logged_in(server, editor) as desk:
        csrf = csrf_of((await desk.get(f"/editor/{blog}")).text)
        fields = {
            "csrf": csrf,
            "title": "Renamed",
            "description": "Now described",
            "cover_alt": "The front line",
        }
        cover = {"cover_file": ("cover.png", png((1200, 630)), "image/png")}
        posted = await desk.post(f"/editor/{blog}/settings", data=fields, files=cover)
        assert posted.status_code == 303 and posted.headers["location"] == f"/editor/{blog}#blog-settings"
        stored = (await api.get(f"/api/v1/blogs/{blog}")).json()
        assert (stored["title"], stored["description"]) == ("Renamed", "Now described")
        assert stored["cover"]["alt"] == "The front line" and stored["cover"]["width"] == 1200
        assert stored["cover"]["url"].startswith(f"/media/{blog}/")
        tags = meta((await api.get(f"/blogs/{blog}")).text)
        assert tags["og:image"] == server.url + stored["cover"]["url"] and tags["og:image:height"] == "630"
        desk_page = (await desk.get(f"/editor/{blog}")).text
        assert "Blog settings saved." in desk_page and 'id="cover-preview"' in desk_page

        # A URL that is not https: the form again, with the error and what was typed; nothing changed.
        bad = await desk.post(
            f"/editor/{blog}/settings", data={**fields, "cover_url": "http://x.example/c.png"}
        )
        assert bad.status_code == 422
        assert (
            "cover.url: must be an https:// URL" in bad.text and 'value="http://x.example/c.png"' in bad.text
        )
        assert (await api.get(f"/api/v1/blogs/{blog}")).json()["cover"] == stored["cover"]

        # The same image described anew, then removed.
        assert (
            await desk.post(f"/editor/{blog}/settings", data={**fields, "cover_alt": "Smoke"})
        ).status_code == 303
        assert (await api.get(f"/api/v1/blogs/{blog}")).json()["cover"] == {**stored["cover"], "alt": "Smoke"}
        removed = await desk.post(f"/editor/{blog}/settings", data={**fields, "cover_remove": "true"})
        assert removed.status_code == 303
        assert (await api.get(f"/api/v1/blogs/{blog}")).json()["cover"] is None

        # Without a CSRF token: 403, nothing changed.
        forged = await desk.post(f"/editor/{blog}/settings", data={**fields, "csrf": "x", "title": "Forged"})
        assert forged.status_code == 403
        assert (await api.get(f"/api/v1/blogs/{blog}")).json()["title"] == "Renamed"


async def test_a_contributor_may_not_change_the_blog_settings(server, api, blog):
    add_user(server, "settings-contributor", "contributor")
    async with logged_in(server, "settings-contributor") as desk:
        page = (await desk.get(f"/editor/{blog}")).text
        assert 'id="blog-settings-form"' not in page
        data = {"csrf": csrf_of(page), "title": "Mine now", "description": ""}
        assert (await desk.post(f"/editor/{blog}/settings", data=data)).status_code == 403
    assert (await api.get(f"/api/v1/blogs/{blog}")).json()["title"] == f"Blog {blog}"


@needs_chromium
async def test_the_desk_settings_form_sets_a_cover_in_the_browser(browser, server, api, blog, editor):
    page = await browser.new_page()
    errors = watch(page)
    await log_in_at(page, f"{server.url}/editor/{blog}", editor, PASSWORD)
    form = page.locator("#blog-settings-form")
    picture = {"name": "front.png", "mimeType": "image/png", "buffer": png((1200, 675))}
    await form.locator("[name=cover_file]").set_input_files(picture)
    await form.locator("[name=cover_alt]").fill("Front")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#blog-settings #flash")).to_have_text("Blog settings saved.")
    cover = (await api.get(f"/api/v1/blogs/{blog}")).json()["cover"]
    assert cover["alt"] == "Front" and (cover["width"], cover["height"]) == (1200, 675)
    await expect(page.locator("#cover-preview")).to_have_attribute("src", cover["url"])
    assert (
        await page.locator("#cover-preview").evaluate("(img) => img.decode().then(() => img.naturalWidth)")
        == 1200
    )
    assert meta((await api.get(f"/blogs/{blog}")).text)["og:image"] == server.url + cover["url"]
    assert errors == []
    await page.close()


async def test_the_cli_creates_a_blog_with_a_cover(server, api):
    slug = f"cli-cover-{os.getpid()}"
    server.cli(
        "blog",
        "create",
        slug,
        "--title",
        "From the shell",
        "--cover",
        "https://img.example/c.jpg",
        "--cover-alt",
        "C",
    )
    assert (await api.get(f"/api/v1/blogs/{slug}")).json()["cover"] == {
        "url": "https://img.example/c.jpg",
        "alt": "C",
    }
    refused = subprocess.run(
        [sys.executable, "-m", "liveblog", "blog", "create", f"{slug}-2", "--title", "T", "--cover", "http://img.example/c.jpg",
         "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **server.settings},
    )  # fmt: skip
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "cover.url: must be an https:// URL" in refused.stderr
    assert (await api.get(f"/api/v1/blogs/{slug}-2")).status_code == 404


def test_the_publisher_settings_are_checked_at_startup():
    settings = Settings.from_env(
        {"LIVEBLOG_PUBLISHER_LOGO": "/static/brand.png", "LIVEBLOG_PUBLISHER_NAME": " Daily "}
    )
    assert (settings.publisher_logo, settings.publisher_name, settings.publisher_url) == (
        "/static/brand.png",
        "Daily",
        None,
    )
    for name, value in (
        ("LIVEBLOG_PUBLISHER_LOGO", "http://insecure.example/logo.png"),
        ("LIVEBLOG_PUBLISHER_LOGO", "//host.example/logo.png"),
        ("LIVEBLOG_PUBLISHER_URL", "ftp://files.example/"),
        ("LIVEBLOG_PUBLISHER_URL", "news.example"),
        ("LIVEBLOG_PUBLISHER_NAME", "tab\there"),
    ):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: value})
