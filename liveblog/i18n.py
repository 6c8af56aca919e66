"""Translations: the shipped locales' message catalogs, and one Jinja environment per language.

The reader pages of a blog are rendered in its language (languages.py); pages without a blog (the
list of blogs, the login, errors) and the desk are rendered in the language the browser asks for
(`negotiate`, from Accept-Language): the desk is the editor's tool, in the editor's language, whatever
the language of the blog being written.

Catalogs are the `.po` files under `liveblog/locale/`, compiled in memory when the app starts (no
build step: the wheel ships the `.po` files as they are). Each language gets its own Jinja
environment with `jinja2.ext.i18n` and that language's translations installed, so macros imported
without context (`_update.html`) translate too, and a render holds no per-request state.

The browser gets its strings from the page: `client_strings` is rendered into
`<script type="application/json" id="lb-strings">` (not executed, so the CSP allows it), plural
messages keyed by CLDR plural category (`Intl.PluralRules` picks one).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale
from babel.dates import format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from .languages import DEFAULT_LANGUAGE, LANGUAGES, direction, language_of, negotiate

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
_CATEGORIES = ("zero", "one", "two", "few", "many", "other")


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The language's catalog, compiled from its `.po` (English: the messages as written)."""
    if lang == DEFAULT_LANGUAGE:
        return NullTranslations()
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def N_(message: str) -> str:
    """Marks `message` for `pybabel extract`, translated where it is shown (gettext_noop)."""
    return message


def gettext_for(request: Request) -> Callable[[str], str]:
    """`gettext` in the language the request asks for (Accept-Language): for messages the desk
    and the login page show that the code, not a template, writes."""
    return translations(negotiate(request.headers.get("accept-language"))).gettext


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def clock(value: object, lang: str) -> str:
    """HH:MM in UTC, the no-JS text of an update's time (the browser shows local time)."""
    moment = _moment(value)
    return format_time(moment, "HH:mm", tzinfo=UTC, locale=lang) if moment else ""


def date_and_clock(value: object, lang: str) -> str:
    """The day (month named in the language) and HH:MM, in UTC: blogs have no time zone of their
    own, and the browser rewrites it in the reader's."""
    moment = _moment(value)
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    day = format_skeleton("yMMMMd", moment, locale=lang)  # "24 квітня 2026 р.", "24 أبريل 2026"
    pattern = str(Locale.parse(lang).datetime_formats["medium"])  # "{1}, {0}": the day, then the time
    return pattern.replace("'", "").format(clock(moment.isoformat(), lang), day) + " UTC"


def client_strings(lang: str) -> dict[str, Any]:
    """The messages static/js/*.js shows, in `lang`; `%(name)s` placeholders are filled there."""
    t = translations(lang)
    _ = t.gettext
    ngettext = t.ngettext
    locale = Locale.parse(lang)
    samples: dict[str, int] = {}
    for n in range(200):  # a number of each plural category the language has
        samples.setdefault(locale.plural_form(n), n)
    return {
        "lang": lang,
        "status": {"live": _("live"), "reconnecting": _("reconnecting"), "ended": _("ended")},
        "newUpdates": {
            category: ngettext("%(num)s new update", "%(num)s new updates", n)
            for category, n in sorted(samples.items(), key=lambda item: _CATEGORIES.index(item[0]))
        },
        "newUpdate": _("New update: %(words)s"),  # said to a screen reader (announce.js)
        "loadMore": _("Load more"),
        "share": _("Share"),
        "linkCopied": _("Link copied"),
        "copyFailed": _("Could not copy the link"),
        "embedContent": _("%(service)s content"),
        "embedded": _("Embedded content"),
        "loadContent": _("Load content"),  # an embed card's button (liveblog/embeds.py writes it in English)
    }


def desk_strings(lang: str) -> dict[str, Any]:
    """The messages static/js/editor.js shows (only the desk's pages carry them)."""
    _ = translations(lang).gettext
    return {
        "notUploaded": _("The image was not uploaded: %(error)s. Your text is kept."),
        "sessionEnded": _(
            "Your session has ended: log in again in another tab, then publish. Your text is kept."
        ),
        "sessionEndedShort": _("your session has ended"),
        "notSent": _("Not sent: %(error)s. Your text is kept."),
        "unreachable": _("the network is unreachable"),
        "localTime": _("local time"),
        "copied": _("Copied."),
        "copyByHand": _("Press Ctrl+C (or ⌘C) to copy the selected code."),
        "confirm": {
            "deleteUpdate": _("Delete this update?"),
            "cancelScheduled": _("Cancel this scheduled update?"),
            "deleteDraft": _("Delete this draft?"),
            "revokeToken": _("Revoke this token?"),
            "removeUser": _("Remove this user?"),
            "removeWebhook": _("Remove this webhook?"),
            "removeFeed": _("Stop following this feed?"),
        },
    }


def status_text(status: object, lang: str) -> str:
    _ = translations(lang).gettext
    names = {"live": _("live"), "reconnecting": _("reconnecting"), "ended": _("ended")}
    return names.get(str(status), str(status))


def _environment(directory: Path, lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        page_lang=lang,
        page_dir=direction(lang),
        client_strings=client_strings(lang),
        desk_strings={"desk": desk_strings(lang)},
        languages=[(code, Locale.parse(code).get_display_name(code) or code) for code in LANGUAGES],
    )
    env.filters["clock"] = lambda value: clock(value, lang)
    env.filters["date_and_clock"] = lambda value: date_and_clock(value, lang)
    env.filters["status_text"] = lambda value: status_text(value, lang)
    return env


class Localized:
    """One `Jinja2Templates` per shipped language, over the same template directory.

    `templates[lang]` renders in that language (a blog's pages); `TemplateResponse` renders in the
    language the request asks for (Accept-Language, hence `Vary: Accept-Language`): the desk, the
    login, the list of blogs and error pages. `get_template` is the English one.
    """

    def __init__(self, directory: Path) -> None:
        self.by_language = {lang: Jinja2Templates(env=_environment(directory, lang)) for lang in LANGUAGES}

    def __getitem__(self, lang: str) -> Jinja2Templates:
        return self.by_language[language_of(lang)]

    def get_template(self, name: str) -> jinja2.Template:
        return self.by_language[DEFAULT_LANGUAGE].get_template(name)

    def TemplateResponse(  # noqa: N802 (Starlette's name)
        self, request: Request, name: str, context: dict[str, Any] | None = None, **kwargs: Any
    ) -> Response:
        lang = negotiate(request.headers.get("accept-language"))
        response = self[lang].TemplateResponse(request, name, context, **kwargs)
        response.headers.add_vary_header("Accept-Language")
        return response
