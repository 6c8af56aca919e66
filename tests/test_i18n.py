"""Languages (issue 16): a blog's `lang` and `dir`, the message catalogs, pages in the blog's language,
the desk and other pages in the browser's (Accept-Language), and dates formatted for the language."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from playwright.async_api import expect

from liveblog.i18n import LOCALE_DIR
from liveblog.languages import negotiate
from liveblog.pages import PAGE_SIZE
from liveblog.store import Keys

from .browsing import needs_chromium, screenshot_path, watch
from .conftest import ROOT, Server, csrf_of, publish
from .validators import axe_violations, describe_violations, needs_axe, needs_vnu, vnu_errors

STRINGS = re.compile(r'<script type="application/json" id="lb-strings">(.*?)</script>', re.S)
# Ukrainian months in the genitive ("24 квітня 2026 р."), January first.
UK_MONTHS = "січня лютого березня квітня травня червня липня серпня вересня жовтня листопада грудня".split()


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


# -- the catalogs ---------------------------------------------------------------------------------


def test_the_pot_holds_every_message_of_the_templates_and_the_code():
    """A message wrapped in a template or in liveblog/*.py after the last `make messages` fails
    here: the .pot, and so the translations, would miss it."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    extracted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT / "liveblog"),
            method_map,
            options_map,  # and Babel's default keywords, as `pybabel extract` (`make messages`)
        )
    }
    template = _ids(_catalog(LOCALE_DIR / "messages.pot"))
    assert len(extracted) > 150  # the reader's and the desk's messages
    assert extracted - template == set(), "run `make messages` and translate"
    assert template - extracted == set(), "run `make messages`: the .pot has messages no source uses"


@pytest.mark.parametrize(("lang", "forms"), [("uk", 3), ("ar", 6)])
def test_every_message_is_translated(lang, forms):
    """No empty msgstr, no fuzzy entry, every plural form (Arabic has six), and the same
    placeholders as the English (Babel's checkers)."""
    template = _ids(_catalog(LOCALE_DIR / "messages.pot"))
    catalog = _catalog(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", lang)
    assert catalog.num_plurals == forms
    assert _ids(catalog) >= template
    plurals = 0
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if isinstance(message.id, tuple):
            plurals += 1
            assert len(strings) == forms, message.id
        assert all(s.strip() for s in strings), f"{lang}: {message.id!r} is not translated"
        assert all(s != message.id for s in strings if len(s) > 3 and " " in s), (
            f"{lang}: {message.id!r} is English"
        )
    assert plurals >= 2
    assert [(m.id, errors) for m, errors in catalog.check()] == []


def test_accept_language_picks_a_shipped_language():
    assert negotiate("uk-UA,uk;q=0.9,en;q=0.8") == "uk"
    assert negotiate("fr-FR, ar;q=0.5, en;q=0.4") == "ar"
    assert negotiate("en;q=0.5, uk") == "uk"
    assert negotiate("ar;q=0, de") == "en"  # q=0: not wanted
    assert negotiate("uk;q=bad") == "en"
    assert negotiate(None) == "en"


# -- the blog's language in the API ----------------------------------------------------------------


async def test_a_blog_has_a_language_and_its_direction(api: httpx.AsyncClient, blog: str):
    got = (await api.get(f"/api/v1/blogs/{blog}")).json()
    assert (got["lang"], got["dir"]) == ("en", "ltr")  # the default

    slug = f"ar-{blog}"
    created = await api.post("/api/v1/blogs", json={"slug": slug, "title": "تغطية", "lang": "ar"})
    assert created.status_code == 201, created.text
    assert (created.json()["lang"], created.json()["dir"]) == ("ar", "rtl")

    patched = await api.patch(f"/api/v1/blogs/{slug}", json={"lang": "uk"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["lang"], patched.json()["dir"]) == ("uk", "ltr")
    listed = {b["slug"]: b for b in (await api.get("/api/v1/blogs")).json()["blogs"]}
    assert listed[slug]["lang"] == "uk"


@pytest.mark.parametrize("lang", ["fr", "EN", "ar-AE", "", 7, None])
async def test_an_unknown_language_is_422_naming_the_field(api: httpx.AsyncClient, blog: str, lang):
    created = await api.post("/api/v1/blogs", json={"slug": f"x-{blog}", "title": "X", "lang": lang})
    assert created.status_code == 422, created.text
    assert created.json()["detail"].startswith("lang:")
    patched = await api.patch(f"/api/v1/blogs/{blog}", json={"lang": lang})
    assert patched.status_code == 422, patched.text
    assert patched.json()["detail"].startswith("lang:")


async def test_a_blog_stored_before_languages_reads_as_english(
    server: Server, api: httpx.AsyncClient, blog: str
):
    client = server.redis()
    try:
        assert client.hdel(Keys.of(blog).meta, "lang") == 1
    finally:
        client.close()
    got = (await api.get(f"/api/v1/blogs/{blog}")).json()
    assert (got["lang"], got["dir"]) == ("en", "ltr")
    assert '<html lang="en" dir="ltr">' in (await api.get(f"/blogs/{blog}")).text


# -- pages -----------------------------------------------------------------------------------------


async def test_a_ukrainian_blog_is_rendered_in_ukrainian(api: httpx.AsyncClient):
    slug = f"uk-{os.getpid()}-{datetime.now().microsecond}"
    created = await api.post(
        "/api/v1/blogs", json={"slug": slug, "title": "Війна в Україні: головне", "lang": "uk"}
    )
    assert created.status_code == 201, created.text
    first = await publish(api, slug, "Генсек ООН відвідає Київ 28 квітня.", title="Візит", key_event=True)
    await publish(api, slug, "Ще одне оновлення з Києва.")
    html = (await api.get(f"/blogs/{slug}")).text

    assert '<html lang="uk" dir="ltr">' in html
    assert 'id="live-status" role="status" data-state="live">наживо</p>' in html
    assert "Оновлено" in html and "Ключові події" in html and "Ключова подія" in html
    assert "Постійне посилання" in html and "Updated <time" not in html and ">Permalink<" not in html
    # The no-JS text of the blog's time: the day with the month's Ukrainian name, in UTC.
    updated = re.search(r'<time id="blog-updated" datetime="([^"]+)"[^>]*>([^<]+)</time>', html)
    assert updated
    moment = datetime.fromisoformat(updated[1].replace("Z", "+00:00"))
    # CLDR puts a no-break space before "р.": compare words.
    assert (
        " ".join(updated[2].split())
        == f"{moment.day} {UK_MONTHS[moment.month - 1]} {moment.year} р., {moment:%H:%M} UTC"
    )
    strings = json.loads(STRINGS.search(html)[1])  # type: ignore[index]
    assert strings["status"] == {"live": "наживо", "reconnecting": "перепідключення", "ended": "завершено"}
    assert strings["loadMore"] == "Показати ще"
    assert strings["newUpdates"] == {
        "one": "%(num)s нове оновлення",
        "few": "%(num)s нові оновлення",
        "many": "%(num)s нових оновлень",
    }
    permalink = (await api.get(f"/blogs/{slug}/updates/{first['id']}")).text
    assert '<html lang="uk" dir="ltr">' in permalink and "Усі оновлення" in permalink
    embed = (await api.get(f"/blogs/{slug}/embed")).text
    assert '<html lang="uk" dir="ltr">' in embed and "Оновлено" in embed

    # Back to English: the next render follows the blog's language.
    assert (await api.patch(f"/api/v1/blogs/{slug}", json={"lang": "en"})).status_code == 200
    html = (await api.get(f"/blogs/{slug}")).text
    assert '<html lang="en" dir="ltr">' in html and "Permalink" in html and "Постійне" not in html


async def test_pages_without_a_blog_follow_accept_language(server: Server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        english = await http.get("/login")
        arabic = await http.get("/login", headers={"Accept-Language": "ar-AE,ar;q=0.9,en;q=0.5"})
        missing = await http.get("/blogs/no-such-blog-here", headers={"Accept-Language": "uk"})
        index = await http.get("/", headers={"Accept-Language": "uk-UA"})
    assert '<html lang="en" dir="ltr">' in english.text and "<h1>Log in</h1>" in english.text
    assert '<html lang="ar" dir="rtl">' in arabic.text and "<h1>تسجيل الدخول</h1>" in arabic.text
    assert "Accept-Language" in arabic.headers["vary"]
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers={"Accept-Language": "uk"}) as http:
        form = {
            "csrf": csrf_of((await http.get("/login")).text),
            "username": "nobody",
            "password": "wrong-one",
        }
        refused = await http.post("/login", data=form)
    assert "Неправильне ім’я користувача або пароль" in refused.text
    assert missing.status_code == 404 and "На головну сторінку" in missing.text
    assert '<html lang="uk" dir="ltr">' in index.text and "Онлайн-трансляції" in index.text


async def test_the_desk_sets_a_blogs_language_and_speaks_the_editors(server: Server, desk: httpx.AsyncClient):
    slug = f"desk-lang-{os.getpid()}-{datetime.now().microsecond}"
    page = (await desk.get("/editor/", headers={"Accept-Language": "uk"})).text
    assert '<html lang="uk" dir="ltr">' in page and "Нова трансляція" in page
    assert '<option value="ar">العربية</option>' in page
    desk_strings = json.loads(re.search(r'id="lb-desk-strings">(.*?)</script>', page)[1])  # type: ignore[index]
    assert desk_strings["desk"]["confirm"]["deleteUpdate"] == "Видалити це оновлення?"

    csrf = csrf_of(page)
    made = await desk.post("/editor/", data={"csrf": csrf, "slug": slug, "title": "Live", "lang": "ar"})
    assert made.status_code == 303, made.text
    assert (await desk.get(f"/api/v1/blogs/{slug}")).json()["dir"] == "rtl"
    # The desk of an Arabic blog, in the editor's English.
    blog_desk = (await desk.get(f"/editor/{slug}")).text
    assert '<html lang="en" dir="ltr">' in blog_desk and '<option value="ar" selected>' in blog_desk

    changed = await desk.post(f"/editor/{slug}/language", data={"csrf": csrf, "lang": "uk"})
    assert changed.status_code == 303
    assert (await desk.get(f"/api/v1/blogs/{slug}")).json()["lang"] == "uk"
    # What a form did, said in the editor's language.
    uk = {"Accept-Language": "uk"}
    saved = await desk.post(f"/editor/{slug}/drafts", data={"csrf": csrf, "body": "Чернетка"}, headers=uk)
    assert saved.status_code == 303, saved.text
    shown = (await desk.get(f"/editor/{slug}", headers=uk)).text
    assert "Чернетку збережено: читачі не побачать її, доки її не опублікують" in shown
    refused = await desk.post(f"/editor/{slug}/language", data={"csrf": csrf, "lang": "klingon"})
    assert refused.status_code == 422
    assert (await desk.get(f"/api/v1/blogs/{slug}")).json()["lang"] == "uk"
    bad_new = await desk.post(
        "/editor/", data={"csrf": csrf, "slug": slug + "-x", "title": "X", "lang": "xx"}
    )
    assert bad_new.status_code == 422 and "lang:" in bad_new.text


def test_the_cli_creates_a_blog_in_a_language(server: Server):
    slug = f"cli-lang-{os.getpid()}"
    assert f"created blog {slug}" in server.cli("blog", "create", slug, "--title", "Київ", "--lang", "uk")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get(f"/api/v1/blogs/{slug}").json()["lang"] == "uk"


# -- in a browser: an Arabic blog, right to left ---------------------------------------------------

# Oldest first; real Arabic copy about the news of the demo blog.
ARABIC_UPDATES = [
    (
        "غوتيريش يتوجه إلى موسكو لإجراء محادثات مع بوتين",
        "يتوجه الأمين العام للأمم المتحدة **أنطونيو غوتيريش** إلى موسكو يوم الثلاثاء، حيث يستقبله "
        "الرئيس فلاديمير بوتين. وتشمل الزيارة اجتماع عمل على الغداء مع وزير الخارجية سيرغي لافروف.",
        True,
    ),
    (
        "المتحدثة باسم الأمم المتحدة تعرض جدول الأعمال",
        "قالت المتحدثة باسم الأمم المتحدة **إري كانيكو** للصحفيين في نيويورك إن الأمين العام يريد "
        "بحث خطوات يمكن اتخاذها فورًا «من أجل إسكات المدافع»، وممرات آمنة للمدنيين.",
        False,
    ),
    (
        None,
        "أكد الكرملين الترتيبات، وقدّم المتحدث باسمه **دميتري بيسكوف** تفاصيل الاجتماع نفسها التي قدمتها الأمم المتحدة.",
        False,
    ),
    (
        "المحطة التالية: كييف في 28 أبريل",
        "بعد موسكو، ينتقل غوتيريش إلى العاصمة الأوكرانية، حيث يلتقي الرئيس **فولوديمير زيلينسكي** في **28 أبريل**.",
        True,
    ),
]


@pytest.mark.browser
@pytest.mark.timeout(120)
@needs_chromium
@needs_axe
@needs_vnu
async def test_an_arabic_blog_reads_right_to_left_in_arabic(
    browser, server: Server, api: httpx.AsyncClient, tmp_path
):
    slug = f"ar-live-{os.getpid()}-{datetime.now().microsecond}"
    created = await api.post(
        "/api/v1/blogs",
        json={
            "slug": slug,
            "title": "آخر تطورات الحرب الروسية الأوكرانية",
            "description": "تابعوا لحظة بلحظة الجولة الدبلوماسية للأمين العام للأمم المتحدة بين موسكو وكييف.",
            "lang": "ar",
        },
    )
    assert created.status_code == 201, created.text
    for i in range(PAGE_SIZE - 1):  # older updates, so the page has "Load more"
        await publish(api, slug, f"تحديث سابق رقم {i + 1}: الوفود تواصل المشاورات في جنيف.")
    for title, body, key_event in ARABIC_UPDATES:
        await publish(api, slug, body, title=title, key_event=key_event)

    page = await browser.new_page(viewport={"width": 1000, "height": 1100})
    errors = watch(page)
    await page.goto(f"{server.url}/blogs/{slug}")
    html = page.locator("html")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(html).to_have_attribute("lang", "ar")
    await expect(page.locator("#live-status")).to_have_text("مباشر")
    await expect(page.locator("#load-more")).to_have_text("عرض المزيد")
    await expect(page.locator("#key-events .side-heading")).to_have_text("أبرز الأحداث")
    await expect(page.locator("#order-toggle")).to_have_text("الأقدم أولًا")

    # Mirrored: an update's time is at its right, its coloured edge is its right border.
    article = page.locator("#updates article.update").first
    box = await article.bounding_box()
    time_box = await article.locator(".update-time").bounding_box()
    permalink = await article.locator(".update-permalink").bounding_box()
    assert box and time_box and permalink
    assert time_box["x"] + time_box["width"] > box["x"] + box["width"] * 0.75
    assert permalink["x"] < box["x"] + box["width"] / 4  # pushed to the far (left) end of the footer
    edges = await article.evaluate(
        "e => [getComputedStyle(e).borderRightWidth, getComputedStyle(e).borderLeftWidth]"
    )
    assert edges == ["4px", "1px"]
    # Times in the browser, in Arabic: the relative time, and the clock's "ص"/"م" (am/pm).
    arabic = re.compile(r"[\u0600-\u06ff]")
    await expect(article.locator(".update-ago")).to_have_text(arabic)
    await expect(article.locator(".update-time")).to_have_text(arabic)
    bot = await article.locator(".update-author").evaluate("e => getComputedStyle(e, '::after').content")
    assert bot == '" · روبوت"'  # a bot's byline (CSS content from the translated data-bot-label)

    violations = await axe_violations(page)  # the accessibility checks hold right to left too
    assert violations == [], describe_violations(violations)
    served = (await api.get(f"/blogs/{slug}")).text
    assert vnu_errors({"ar": served}, tmp_path) == {"ar": []}

    await page.wait_for_timeout(300)
    picture = screenshot_path("reader-ar.png", tmp_path)
    await page.screenshot(path=str(picture))
    assert picture.stat().st_size > 10_000

    # New updates held behind the pill while the reader is down the page: Arabic's dual form.
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await page.wait_for_function("window.scrollY > 200")
    await publish(api, slug, "وصل غوتيريش إلى موسكو.", title="وصول")
    await publish(api, slug, "بدأ الاجتماع مع لافروف.")
    await expect(page.locator("#new-updates")).to_have_text("تحديثان جديدان", timeout=10000)
    assert errors == []
    await page.close()


@pytest.mark.browser
@pytest.mark.timeout(90)
@needs_chromium
async def test_a_ukrainian_page_speaks_ukrainian_to_any_reader(browser, api: httpx.AsyncClient):
    """The page's language wins over the browser's: an English-speaking reader of a Ukrainian blog
    reads its status and relative times in Ukrainian."""
    slug = f"uk-live-{os.getpid()}-{datetime.now().microsecond}"
    created = await api.post("/api/v1/blogs", json={"slug": slug, "title": "Київ наживо", "lang": "uk"})
    assert created.status_code == 201, created.text
    await publish(api, slug, "Повітряна тривога в Києві скасована.")
    await publish(api, slug, "Звернення:\n\nhttps://www.youtube.com/watch?v=dQw4w9WgXcQ")  # an embed card
    context = await browser.new_context(locale="en-US")
    await context.clock.install()
    page = await context.new_page()
    errors = watch(page)
    await page.goto(f"{api.base_url}/blogs/{slug}")
    await expect(page.locator("#live-status")).to_have_text("наживо")
    # The card's button, stored in English in the update's HTML: on the page and arriving live.
    await expect(page.locator("#updates .embed-load")).to_have_text(["Завантажити вміст"])
    await publish(api, slug, "https://www.youtube.com/watch?v=jNQXAC9IVRw")
    await expect(page.locator("#updates .embed-load")).to_have_text(["Завантажити вміст"] * 2)
    ago = page.locator("#updates .update-ago")
    await expect(ago).to_have_text(["зараз"] * 3)
    await context.clock.fast_forward("05:10")
    await expect(ago).to_have_text(["5 хв тому"] * 3)
    await expect(page.locator("#blog-updated")).to_have_text(re.compile(r"[а-яі]"))  # "29 лист., 04:58"
    assert errors == []
    await context.close()
