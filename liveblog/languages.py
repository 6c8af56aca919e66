"""The languages a blog may be written in: BCP 47 tags of the shipped locales, and their direction.

A blog's `dir` is not stored: it follows from its `lang` (CLDR's script direction, through Babel),
so a blog can never be Arabic laid out left to right. The catalogs and templates are in i18n.py.
"""

from __future__ import annotations

import functools
from typing import Literal, get_args

from babel import Locale

Language = Literal["en", "uk", "ar"]
LANGUAGES: tuple[str, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "en"
Direction = Literal["ltr", "rtl"]
MAX_ACCEPT_LANGUAGE = 64  # entries of an Accept-Language header looked at


@functools.cache
def direction(lang: str) -> Direction:
    """`ltr` or `rtl`: the language's script direction in CLDR."""
    return "rtl" if Locale.parse(lang).text_direction == "rtl" else "ltr"


def language_of(value: object) -> Language:
    """A stored `lang` as a shipped language (blogs stored before languages read as English)."""
    return value if isinstance(value, str) and value in LANGUAGES else DEFAULT_LANGUAGE  # type: ignore[return-value]


def negotiate(accept_language: str | None) -> Language:
    """The shipped language the browser likes best (RFC 9110's Accept-Language: q-values, and a
    region such as `uk-UA` matching its language); English when it names none of them."""
    best: tuple[float, int, Language] | None = None
    for index, item in enumerate((accept_language or "").split(",")[:MAX_ACCEPT_LANGUAGE]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0 and (best is None or (quality, -index) > best[:2]):
            best = (quality, -index, language_of(primary))
    return best[2] if best else DEFAULT_LANGUAGE
