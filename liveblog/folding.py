"""Case-insensitive matching inside Redis: what the desk's search script needs to fold text the way
Python's `str.casefold` does (Unicode's full case folding), in Lua, which knows only ASCII.

The script lowers ASCII itself (`string.lower`) and maps each other character through a table:
not the whole folding table (about 1,400 characters) but only the characters whose folding
shares a character with the folded query. Any other character cannot take part in a match, so it
may stay as it is; and a plain byte search for UTF-8 text finds only whole characters.
"""

from __future__ import annotations

import functools
from collections import defaultdict

# Unicode has cased characters in planes 0 and 1 only (the last is Adlam's, U+1E921); beyond them
# lie ideographs, tags and private use.
_CASED = range(0x80, 0x20000)
_SURROGATES = range(0xD800, 0xE000)


@functools.cache
def _folding_into() -> dict[str, tuple[str, ...]]:
    """Folded character -> the non-ASCII characters whose folding contains it (a 0.2 s scan, once
    per process: call it off the event loop)."""
    into: defaultdict[str, list[str]] = defaultdict(list)
    for code in _CASED:
        if code in _SURROGATES:
            continue
        char = chr(code)
        folded = char.casefold()
        if folded != char:
            for part in set(folded):
                into[part].append(char)
    return {part: tuple(chars) for part, chars in into.items()}


def fold_table(query: str) -> tuple[str, list[str]]:
    """The query folded (`str.casefold`), and the script's table for it, flat:
    [character, its folding, character, its folding, ...]."""
    needle = query.casefold()
    into = _folding_into()
    chars = sorted({char for part in set(needle) for char in into.get(part, ())})
    return needle, [item for char in chars for item in (char, char.casefold())]
