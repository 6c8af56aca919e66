"""Image uploads (issue 15, MEDIA): the API's upload, what is served, the update's image with its
srcset, hostile files refused with nothing stored, and the desk's upload, with and without JavaScript."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib

import httpx
import pytest
from PIL import ExifTags, Image
from playwright.async_api import expect

from liveblog.models import MAX_UPLOAD_FRAMES, MAX_UPLOAD_PIXELS

from .browsing import log_in_at, needs_chromium, open_reader, watch
from .conftest import PASSWORD, Server, csrf_of, logged_in
from .test_browser import MARKUP

pytestmark = pytest.mark.timeout(90)

MAX_UPLOAD = 10 * 1024 * 1024  # LIVEBLOG_MAX_UPLOAD_BYTES's default, the test server's
SECRET_PLACE = "Secret Street 1, Kyiv"


def photo(size: tuple[int, int] = (2000, 1500), orientation: int = 1, fmt: str = "JPEG") -> bytes:
    """A camera's photo: a gradient, with EXIF that says where it was taken (GPS) and by what."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    exif = image.getexif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Camera Maker"
    exif[ExifTags.Base.ImageDescription] = SECRET_PLACE
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (50.0, 27.0, 0.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (30.0, 31.0, 24.0)
    out = io.BytesIO()
    image.save(out, fmt, exif=exif)
    return out.getvalue()


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (200, 30, 30, 128)).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int) -> bytes:
    """A PNG of a few dozen bytes whose header declares side x side pixels (900 MP at 30,000): its
    pixels, if decoded, would take gigabytes."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + (_chunk(b"IEND", b""))
    )


def gif_of(frames: int) -> bytes:
    """A 2x2 GIF of `frames` frames, each unlike the one before (so the encoder merges none)."""
    colours = [Image.new("P", (2, 2), i % 2) for i in range(frames)]
    for frame in colours:
        frame.putpalette([0, 0, 0, 255, 255, 255])
    out = io.BytesIO()
    colours[0].save(out, "GIF", save_all=True, append_images=colours[1:], duration=20, loop=0)
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient, slug: str, data: bytes, name: str = "photo.jpg", kind: str = "image/jpeg"
) -> httpx.Response:
    return await client.post(f"/api/v1/blogs/{slug}/media", files={"file": (name, data, kind)})


def media_keys(server: Server, slug: str) -> list[bytes]:
    """The blog's upload keys in Redis (on a cluster, on every master)."""
    return list(server.redis().scan_iter(match=f"lb:{{{slug}}}:media:*"))


def srcset_widths(srcset: str) -> list[int]:
    return [int(w) for w in re.findall(r" (\d+)w", srcset)]


# -- the API: upload, serve, publish ------------------------------------------------------------


async def test_an_upload_is_served_reencoded_in_each_width_without_exif_and_published_with_srcset(
    server, api, blog
):
    original = photo((2000, 1500), orientation=6)  # a portrait taken with the camera turned
    assert b"Camera Maker" in original and SECRET_PLACE.encode() in original
    response = await upload(api, blog, original)
    assert response.status_code == 201, response.text
    media = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", media["id"])
    # The EXIF orientation is applied: 1500 wide, 2000 high; widths 480, 960 and its own (< 1600).
    assert (media["width"], media["height"]) == (1500, 2000)
    assert [s["width"] for s in media["srcset"]] == [480, 960, 1500]
    assert media["url"] == media["srcset"][-1]["url"] == response.headers["location"]

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        for source in media["srcset"]:
            served = await anonymous.get(source["url"])
            assert served.status_code == 200, source
            assert served.headers["content-type"] == "image/webp"
            assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert served.headers["x-content-type-options"] == "nosniff"
            image = Image.open(io.BytesIO(served.content))
            assert image.format == "WEBP" and image.width == source["width"]
            assert abs(image.height - source["width"] * 4 / 3) <= 1  # upright, in proportion
            assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
            for secret in (b"Exif", b"GPS", b"Camera Maker", SECRET_PLACE.encode()):
                assert secret not in served.content
        again = await anonymous.get(media["url"], headers={"If-None-Match": "*"})
        assert again.status_code == 200  # nothing to revalidate: the name changes with the content

    # The same file again is the same upload, stored once.
    assert (await upload(api, blog, original)).json() == media
    assert len(media_keys(server, blog)) == 1

    fields = {"media": media["id"], "alt": "A gradient", "caption": "Dusk", "credit": "Photo: Ed"}
    published = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "Look", "image": fields})
    assert published.status_code == 201, published.text
    image = published.json()["image"]
    assert image == {
        "url": media["url"],
        "alt": "A gradient",
        "caption": "Dusk",
        "credit": "Photo: Ed",
        "media": media["id"],
        "width": 1500,
        "height": 2000,
        "srcset": media["srcset"],
    }
    page = (await api.get(f"/blogs/{blog}")).text
    [img] = re.findall(r'<img src="/media/[^>]*>', page)
    assert f'src="{media["url"]}"' in img and 'alt="A gradient"' in img
    assert 'width="1500" height="2000"' in img and "sizes=" in img
    assert srcset_widths(re.search(r'srcset="([^"]*)"', img)[1]) == [480, 960, 1500]
    assert '<span class="image-credit">Photo: Ed</span>' in page

    # An edit may name an upload too, and a pasted https URL still works.
    update_id = published.json()["id"]
    url_image = {"url": "https://example.com/a.png", "alt": "A"}
    edited = await api.patch(f"/api/v1/blogs/{blog}/updates/{update_id}", json={"image": url_image})
    assert edited.json()["image"] == {"url": "https://example.com/a.png", "alt": "A", "caption": ""}
    edited = await api.patch(f"/api/v1/blogs/{blog}/updates/{update_id}", json={"image": fields})
    assert edited.status_code == 200 and edited.json()["image"]["srcset"] == media["srcset"]


async def test_a_wide_image_gets_480_960_and_1600_and_a_small_one_its_own_width(api, blog):
    wide = (await upload(api, blog, photo((3000, 1000)))).json()
    assert [s["width"] for s in wide["srcset"]] == [480, 960, 1600]
    assert (wide["width"], wide["height"]) == (1600, 533)
    small = await upload(api, blog, png((64, 48)), "dot.png", "image/png")
    assert small.status_code == 201 and [s["width"] for s in small.json()["srcset"]] == [64]


async def test_an_image_of_another_blog_or_none_is_refused(api, blog):
    media = (await upload(api, blog, png())).json()
    other = (await api.post("/api/v1/blogs", json={"slug": blog + "-b", "title": "B"})).json()["slug"]
    for slug, media_id in ((other, media["id"]), (blog, "0" * 32)):
        response = await api.post(
            f"/api/v1/blogs/{slug}/updates", json={"body": "x", "image": {"media": media_id, "alt": "a"}}
        )
        assert response.status_code == 422 and response.json()["detail"].startswith("image.media: no upload")
    both = {"media": media["id"], "url": "https://example.com/a.png", "alt": "a"}
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "x", "image": both})
    assert response.status_code == 422 and response.json()["detail"].startswith("image: give either")


async def test_pages_and_feeds_give_an_uploaded_image_an_absolute_url(server, api, blog):
    """Open Graph, JSON-LD and the feeds are read on other sites: the upload's path gets the origin."""
    media = (await upload(api, blog, png())).json()
    image = {"media": media["id"], "alt": "Dot"}
    update = (await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "x", "image": image})).json()
    absolute = server.url + media["url"]
    permalink = (await api.get(update["url"])).text
    assert f'<meta property="og:image" content="{absolute}">' in permalink
    # JSON-LD's image: an ImageObject with the upload's size (issue 16).
    page = (await api.get(f"/blogs/{blog}")).text
    [ld] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page)
    [post] = json.loads(ld)["liveBlogUpdate"]
    assert post["image"] == {"@type": "ImageObject", "url": absolute, "width": 64, "height": 48}
    [item] = (await api.get(f"/blogs/{blog}/feed.json")).json()["items"]
    assert item["image"] == absolute and f'<img src="{absolute}"' in item["content_html"]
    assert f'src="{absolute}"' in (await api.get(f"/blogs/{blog}/feed.atom")).text.replace("&#34;", '"')


@pytest.mark.parametrize(
    "path",
    [
        "/media/{slug}/" + "0" * 32 + "-480.webp",  # no such upload
        "/media/{slug}/{id}-481.webp",  # no such width
        "/media/{slug}/{id}-480.jpg",
        "/media/{slug}/{id}-0480.webp",
        "/media/no-such-blog/{id}-64.webp",
        "/media/{slug}/../{id}-64.webp",
    ],
)
async def test_what_was_not_uploaded_is_404(server, api, blog, path):
    media = (await upload(api, blog, png())).json()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        response = await anonymous.get(path.format(slug=blog, id=media["id"]))
    assert response.status_code == 404


async def test_an_upload_needs_a_writer_of_the_blog(server, api, blog, editor):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        assert (await upload(anonymous, blog, png())).status_code == 401
    elsewhere_blog = (await api.post("/api/v1/blogs", json={"slug": blog + "-x", "title": "X"})).json()[
        "slug"
    ]
    other = server.token(f"media-{blog}", elsewhere_blog)
    headers = {"Authorization": f"Bearer {other}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=headers) as elsewhere:
        assert (await upload(elsewhere, blog, png())).status_code == 403
    async with logged_in(server, editor) as desk:
        assert (await upload(desk, blog, png())).status_code == 403  # a session needs X-CSRF-Token
        csrf = csrf_of((await desk.get(f"/editor/{blog}")).text)
        response = await desk.post(
            f"/api/v1/blogs/{blog}/media",
            files={"file": ("a.png", png(), "image/png")},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 201, response.text
    assert (await api.post(f"/api/v1/blogs/{blog}/media", json={"file": "x"})).status_code == 415
    no_file = await api.post(f"/api/v1/blogs/{blog}/media", files={"other": ("a.png", png(), "image/png")})
    assert no_file.status_code == 422 and no_file.json()["detail"].startswith("file:")
    text_field = await api.post(
        f"/api/v1/blogs/{blog}/media",
        data={"file": "not a file"},
        files={"other": ("a.png", b"", "image/png")},
    )
    assert text_field.status_code == 422 and text_field.json()["detail"].startswith("file:")
    # Another field is refused, as the document says (a fuzz case once sent one and got a 201).
    extra = await api.post(
        f"/api/v1/blogs/{blog}/media", data={"note": "x"}, files={"file": ("a.png", png(), "image/png")}
    )
    assert extra.status_code == 422 and extra.json()["detail"] == "note: unknown field", extra.text
    document = (await api.get("/openapi.json")).json()
    form = document["paths"]["/api/v1/blogs/{slug}/media"]["post"]["requestBody"]["content"]
    assert form["multipart/form-data"]["schema"]["additionalProperties"] is False


# -- hostile files: a clear 4xx, and nothing stored ----------------------------------------------


@pytest.mark.parametrize(
    ("make", "name", "kind", "status", "detail"),
    [
        (lambda: b"Dear editor,\nplease publish this.\n", "photo.jpg", "image/jpeg", 422, "file: not a"),
        (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "a.svg",
         "image/svg+xml", 422, "file: not a"),
        (lambda: b"%PDF-1.4\n" + b"0" * 1000, "a.png", "image/png", 422, "file: not a"),
        (lambda: photo()[:4000], "cut.jpg", "image/jpeg", 422, "file: not a"),  # truncated
        (lambda: photo(fmt="TIFF"), "a.tiff", "image/tiff", 422, "file: not a"),  # not a format we take
        (lambda: png_bomb(10_000), "bomb.png", "image/png", 413, f"is over {MAX_UPLOAD_PIXELS} pixels"),
        (lambda: png_bomb(30_000), "bomb.png", "image/png", 413, "pixels"),  # past Pillow's own bound
        (lambda: gif_of(3 * MAX_UPLOAD_FRAMES), "many.gif", "image/gif", 422, f"over {MAX_UPLOAD_FRAMES} frames"),
        (lambda: b"\xff" * (MAX_UPLOAD + 1), "big.jpg", "image/jpeg", 413, f"file: over {MAX_UPLOAD} bytes"),
        (lambda: b"\xff" * (2 * MAX_UPLOAD), "big.jpg", "image/jpeg", 413, "form over"),  # Content-Length
    ],
    ids=["text", "svg", "pdf", "truncated", "tiff", "bomb", "huge-bomb", "frames", "over-limit", "declared"],
)  # fmt: skip
async def test_a_hostile_file_is_a_clear_4xx_and_nothing_is_stored(
    server, api, blog, make, name, kind, status, detail
):
    response = await upload(api, blog, make(), name, kind)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert media_keys(server, blog) == []


@pytest.mark.parametrize(
    "tail",
    [
        b"<html><script>alert(document.cookie)</script></html>",  # HTML appended to the image
        b"PK\x03\x04" + b"\0" * 22 + b"Evil.class<script>alert(1)</script>",  # a GIFAR-like archive
    ],
    ids=["html", "gifar"],
)
@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
async def test_a_polyglot_is_served_reencoded_without_its_payload(server, api, blog, tail, fmt):
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, fmt)
    polyglot = out.getvalue() + tail
    response = await upload(api, blog, polyglot, "x.html", "text/html")
    assert response.status_code == 201, response.text
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        served = await anonymous.get(response.json()["url"])
    assert served.headers["content-type"] == "image/webp" and served.content.startswith(b"RIFF")
    assert b"<script" not in served.content and b"PK\x03\x04" not in served.content


async def test_an_animated_gif_keeps_its_first_frame(server, api, blog):
    response = await upload(api, blog, gif_of(10), "a.gif", "image/gif")
    assert response.status_code == 201, response.text
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        served = Image.open(io.BytesIO((await anonymous.get(response.json()["url"])).content))
    assert getattr(served, "n_frames", 1) == 1 and served.convert("L").getpixel((0, 0)) == 0


# -- the desk ------------------------------------------------------------------------------------


async def test_the_desk_form_without_javascript_uploads_and_publishes(server, api, blog, editor):
    async with logged_in(server, editor) as desk:
        page = (await desk.get(f"/editor/{blog}")).text
        assert (
            'enctype="multipart/form-data"' in page
            and 'name="image_file" type="file" accept="image/*"' in page
        )
        form = {"csrf": csrf_of(page), "body": "With a photo", "image_caption": "Dusk", "image_credit": "Ed"}
        files = {"image_file": ("p.jpg", photo((1200, 900)), "image/jpeg")}
        no_alt = await desk.post(f"/editor/{blog}/updates", data=form, files=files)
        assert no_alt.status_code == 422 and "image.alt" in no_alt.text
        assert "With a photo</textarea>" in no_alt.text
        assert media_keys(server, blog) == []  # refused before the upload's work

        bad = await desk.post(
            f"/editor/{blog}/updates", data={**form, "image_alt": "x"}, files={"image_file": ("a.jpg", b"no")}
        )
        assert bad.status_code == 422 and "file: not a" in bad.text and media_keys(server, blog) == []

        ok = await desk.post(f"/editor/{blog}/updates", data={**form, "image_alt": "A gradient"}, files=files)
        assert ok.status_code == 303 and ok.headers["location"] == f"/editor/{blog}"
        [update] = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
        image = update["image"]
        assert image["alt"] == "A gradient" and image["credit"] == "Ed" and image["url"].startswith("/media/")
        assert [s["width"] for s in image["srcset"]] == [480, 960, 1200]

        # Its edit form keeps the upload, and an edit keeps the image.
        edit_page = (await desk.get(f"/editor/{blog}/updates/{update['id']}/edit")).text
        assert f'name="image_media" value="{image["media"]}"' in edit_page
        edit = {
            "csrf": csrf_of(edit_page),
            "body": "Edited",
            "image_media": image["media"],
            "image_alt": "New alt",
        }
        assert (await desk.post(f"/editor/{blog}/updates/{update['id']}/edit", data=edit)).status_code == 303
        edited = (await api.get(f"/api/v1/blogs/{blog}/updates/{update['id']}")).json()
        kept = {k: v for k, v in image.items() if k not in ("caption", "credit")}
        assert edited["image"] == {**kept, "alt": "New alt", "caption": ""}


@pytest.mark.browser
@needs_chromium
async def test_an_editor_uploads_on_the_desk_and_the_reader_sees_it_live(
    browser, server, editor, blog, tmp_path
):
    picture = tmp_path / "kyiv.jpg"
    picture.write_bytes(photo((2400, 1600)))
    reader_context = await browser.new_context()
    editor_context = await browser.new_context()
    try:
        reader, reader_errors = await open_reader(reader_context, f"{server.url}/blogs/{blog}")
        page = await editor_context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{server.url}/editor/{blog}", editor, PASSWORD)
        await expect(page.locator("#live-status")).to_have_text("live")

        form = page.locator("form#new-update")
        await form.locator("[name=body]").fill("The view from the hill")
        await form.locator("[name=image_file]").set_input_files(str(picture))
        await form.locator("button[type=submit]").click()  # no alt text: the browser asks for it
        assert await form.locator("[name=image_alt]").evaluate("field => field.validity.valueMissing")
        assert media_keys(server, blog) == []
        await form.locator("[name=image_alt]").fill("Kyiv from the hill at dusk")
        await form.locator("[name=image_caption]").fill("Kyiv, April 28")
        await form.locator("[name=image_credit]").fill("Photo: Ed")
        await form.locator("button[type=submit]").click()

        img = reader.locator("#updates article.update .update-image img")
        await expect(img).to_have_attribute("alt", "Kyiv from the hill at dusk")
        await expect(img).to_have_attribute(
            "srcset", re.compile(r"-480\.webp 480w, .*-960\.webp 960w, .*-1600\.webp 1600w$")
        )
        await expect(img).to_have_attribute("width", "1600")
        await expect(img).to_have_attribute("height", "1067")
        await expect(reader.locator(".update-image .image-credit")).to_have_text("Photo: Ed")
        await expect(reader.locator(".update-image .image-caption")).to_have_text("Kyiv, April 28")
        # The browser loaded one of the widths (CSP allows the same origin).
        await expect(img).to_have_js_property("complete", True)
        assert await img.evaluate("img => img.naturalWidth > 0 && img.currentSrc.includes('/media/')")
        await expect(form.locator("[name=body]")).to_have_value("")  # cleared after success
        assert not errors and not reader_errors, (errors, reader_errors)
    finally:
        await reader_context.close()
        await editor_context.close()


@pytest.mark.browser
@needs_chromium
async def test_an_uploaded_image_inserted_live_has_the_markup_the_server_renders(browser, server, api, blog):
    """The live copy (updates.js filling _update.html's <template>) of an uploaded image, with its
    srcset, size, caption and credit, or a credit alone, is what a reload renders, to the byte."""
    media = (await upload(api, blog, photo((1000, 800)))).json()
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    images = [
        {"media": media["id"], "alt": "Dusk", "caption": "Kyiv & <Lviv>", "credit": "Photo: Ed"},
        {"media": media["id"], "alt": "Dusk", "credit": "Photo: Ed"},
        {"media": media["id"], "alt": ""},
    ]
    ids = [
        (await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "x", "image": i})).json()["id"]
        for i in images
    ]
    await expect(page.locator("#updates article.update")).to_have_count(3, timeout=5000)
    live = [await page.evaluate(MARKUP, f"#update-{i}") for i in ids]
    await page.reload()
    await expect(page.locator("#live-status")).to_have_text("live")
    rendered = [await page.evaluate(MARKUP, f"#update-{i}") for i in ids]
    assert live == rendered
    assert 'srcset="/media/' in rendered[0] and 'width="1000" height="800"' in rendered[0]
    assert "image-caption" not in rendered[1] and "<figcaption>" not in rendered[2]
    assert errors == []
    await page.close()
