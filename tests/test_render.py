"""Markdown to safe HTML: the allow-list survives, raw HTML is text, hostile input never becomes markup."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveblog.render import ALLOWED_TAGS, markdown_to_html, sanitize

from .markup import Elements

pytestmark = pytest.mark.timeout(60)

REL = 'rel="noopener noreferrer nofollow"'


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("**Kyiv**", "<p><strong>Kyiv</strong></p>"),
        ("*April* and _28_", "<p><em>April</em> and <em>28</em></p>"),
        ("~~wrong~~", "<p><s>wrong</s></p>"),
        ("`code`", "<p><code>code</code></p>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. one", "<ol>\n<li>one</li>\n</ol>"),
        ("## Heading", "<h2>Heading</h2>"),
        ("a\n\n---\n\nb", "<p>a</p>\n<hr>\n<p>b</p>"),
        ("[UN](https://www.un.org/)", f'<p><a href="https://www.un.org/" {REL}>UN</a></p>'),
        ('[UN](https://un.org "The UN")', f'<p><a href="https://un.org" title="The UN" {REL}>UN</a></p>'),
        ("[mail](mailto:desk@example.com)", f'<p><a href="mailto:desk@example.com" {REL}>mail</a></p>'),
        ("[rel](/blogs/x)", f'<p><a href="/blogs/x" {REL}>rel</a></p>'),
    ],
)
def test_allow_listed_markup_survives(source, html):
    assert markdown_to_html(source) == html


def test_tables_survive():
    html = markdown_to_html("| city | date |\n|:--|--:|\n| Kyiv | 28 |")
    assert "<table>" in html and "<th" in html and "<td" in html
    assert ">Kyiv</td>" in html


def test_every_link_gets_rel_even_when_the_source_sets_its_own():
    html = sanitize('<a href="https://example.com" rel="opener" target="_blank">x</a>')
    assert html == f'<a href="https://example.com" {REL}>x</a>'


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("<b>bold?</b>", "&lt;b&gt;bold?&lt;/b&gt;"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<div>\nblock\n</div>", "&lt;div&gt;"),
        ("a <!-- comment --> b", "&lt;!-- comment --&gt;"),
    ],
)
def test_raw_html_is_escaped_as_text(source, text):
    html = markdown_to_html(source)
    assert text in html
    assert not re.search(r"<(b|script|div|!--)[\s>]", html)


HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)//",
    '<iframe src="https://evil.example/"></iframe>',
    "<iframe srcdoc='<script>alert(1)</script>'>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    "<svg/onload=alert(1)>",
    "<style>@import 'https://evil.example/x.css';</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p onmouseover="alert(1)">hover</p>',
    "<body onload=alert(1)>",
    '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
    '<object data="javascript:alert(1)">',
    '<embed src="data:text/html,<script>alert(1)</script>">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](<javascript:alert(1)>)",
    "[x](java&#x73;cript:alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](https://example.com/a.png)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x](https://example.com/a.png "onerror=alert(1)")',
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '[x](https://example.com "a" onclick="alert(1)")',
    "`<script>`\n\n```html\n<script>alert(1)</script>\n```",
    "| a |\n|---|\n| <script>alert(1)</script> |",
    "**<img src=x onerror=alert(1)>**",
]


def _attributes(html: str) -> list[tuple[str, str]]:
    """(name, value) of every attribute of every tag; text between tags is not looked at."""
    found = []
    for tag in re.findall(r"<[a-zA-Z][^>]*>", html):
        for name, value in re.findall(r'\s([^\s=/>]+)(?:="([^"]*)")?', tag):
            found.append((name.lower(), value))
    return found


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_input_never_yields_markup_that_can_run(source):
    html = markdown_to_html(source)
    lowered = html.lower()
    for tag in (
        "<script",
        "<iframe",
        "<img",
        "<style",
        "<svg",
        "<object",
        "<embed",
        "<form",
        "<meta",
        "<math",
    ):
        assert tag not in lowered, html
    for name, value in _attributes(html):
        assert not name.startswith("on"), html
        assert name in {"href", "title", "rel", "align"}, html
        squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
        assert not squeezed.startswith(("javascript:", "vbscript:", "data:")), html
        assert "javascript:" not in squeezed, html
    # Outside tags, `<` only ever appears escaped, so text cannot open a tag either.
    assert not re.search(
        r"<(?!/?(?:a|p|strong|em|code|pre|table|thead|tbody|tr|th|td|ul|ol|li|br|hr)\b)", html
    )


@pytest.mark.parametrize(
    "html",
    [
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        '<img src="https://example.com/a.png">',
        "<script>alert(1)</script>",
        '<p onclick="alert(1)">x</p>',
        '<iframe src="https://example.com"></iframe>',
        "<style>p{}</style>",
    ],
)
def test_sanitize_alone_drops_what_markdown_would_never_produce(html):
    """The second line of defence: nh3 cleans even HTML that did not come from markdown-it."""
    cleaned = sanitize(html).lower()
    assert "javascript:" not in cleaned
    assert "data:" not in cleaned
    assert not re.search(r"<(img|script|iframe|style)\b", cleaned)
    assert " onclick" not in cleaned


def test_a_markdown_image_keeps_its_alt_text():
    """Images are not on the allow-list (bots send `image`); the alt text must not vanish with the tag."""
    html = markdown_to_html("Map: ![front line near Kharkiv](https://example.com/map.png)")
    assert "<img" not in html
    assert "front line near Kharkiv" in html


# -- properties: whatever the input, nothing that can run comes out --------------------------------

FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "style",
    "svg",
    "object",
    "embed",
    "img",
    "math",
    "form",
    "meta",
    "base",
}
EVIL_SCHEMES = ("javascript", "vbscript", "data")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "background", "xlink:href"}
ALLOWED_OUTPUT_ATTRIBUTES = {"href", "title", "rel", "align"}
FRAGMENTS = [
    "<script>", "</script>", "<script src=//evil.example/x.js>", "<SCRIPT>", "<scr<script>ipt>",
    "<iframe", "<iframe src=", "<svg onload=alert(1)>", "<svg/onload=", "<img src=x onerror=alert(1)>",
    "<style>", "<object data=", "<embed src=", "<math><mtext>", "<a href=", "<a ", " href=", " src=",
    "onerror=", "onload=", " onclick=\"", "javascript:", "JaVaScRiPt:", "vbscript:", "data:text/html,",
    "data:text/html;base64,PHNjcmlwdD4=", "&#106;avascript:", "&#x6A;avascript:", "java&#x09;script:",
    "javascript&colon;", "&#0000106", "&Tab;", "&NewLine;", "\tjava\nscript:", "\x00", "<", ">", "\"", "'",
    "`", "``", "```", "\n", "\n\n", "    ", "[", "]", "(", ")", "](", "![", "[x](", "![x](", "[r]: ",
    "<!--", "-->", "<![CDATA[", "]]>", "</", "/>", "=", "&", ";", "*", "_", "|", "> ", "- ", "1. ",
    "alert(1)", "https://example.com/", "mailto:x@example.com", "<https://example.com>", "<javascript:x>",
]  # fmt: skip


@st.composite
def obfuscated_scheme(draw: st.DrawFn) -> str:
    """`javascript:` (or vbscript:, data:) with letters in random case, some of them written as
    decimal, hex or named character references, and tabs, newlines or NULs slipped in."""
    scheme = draw(st.sampled_from(EVIL_SCHEMES)) + ":"
    out = []
    for char in scheme:
        form = draw(st.integers(0, 5))
        if form == 1:
            char = char.upper()
        elif form == 2:
            char = f"&#{'0' * draw(st.integers(0, 6))}{ord(char)}" + draw(st.sampled_from([";", ""]))
        elif form == 3:
            char = draw(st.sampled_from(["&#x{:x};", "&#X{:X}", "&#x{:04x};"])).format(ord(char))
        elif form == 4 and char == ":":
            char = "&colon;"
        out.append(char)
        if draw(st.integers(0, 9)) == 0:
            out.append(
                draw(st.sampled_from(["\t", "\n", "&Tab;", "&NewLine;", "&#9;", "&#x0A;", "\x00", " "]))
            )
    return "".join(out)


@st.composite
def hostile_markdown(draw: st.DrawFn) -> str:
    """Markdown and HTML built from hostile fragments, obfuscated schemes, link and image syntax."""
    scheme = obfuscated_scheme()
    piece = st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(max_size=6),
        scheme,
        scheme.map(lambda s: f"[x]({s}alert(1))"),
        scheme.map(lambda s: f"[x](<{s}alert(1)>)"),
        scheme.map(lambda s: f"![x]({s}alert(1))"),
        scheme.map(lambda s: f"<{s}alert(1)>"),
        scheme.map(lambda s: f"\n\n[r]: {s}alert(1)\n\n[r]\n"),
        scheme.map(lambda s: f'<a href="{s}alert(1)">x</a>'),
    )
    return "".join(draw(st.lists(piece, max_size=30)))


_C0_OR_SPACE = "".join(map(chr, range(0x21)))


def url_scheme(value: str) -> str | None:
    """The scheme a browser reads from an attribute's (already decoded) value: it strips C0 controls
    and spaces around the URL and drops ASCII tabs and newlines anywhere in it (WHATWG URL)."""
    url = re.sub(r"[\t\n\r]", "", value.strip(_C0_OR_SPACE))
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    return match[1].lower() if match else None


def dangers(html: str) -> list[str]:
    """Every tag or attribute of `html` that could run script, or that the allow-list does not know."""
    found = []
    for tag, attrs in Elements(html).tags:  # html.parser decodes character references in values
        if tag in FORBIDDEN_TAGS or tag not in ALLOWED_TAGS:
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on") or name not in ALLOWED_OUTPUT_ATTRIBUTES:
                found.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and url_scheme(value) in EVIL_SCHEMES:
                found.append(f"<{tag} {name}={value!r}>")
    return found


def test_the_danger_check_itself_catches_each_hostile_form():
    """Guard against a property that cannot fail."""
    for html in (
        "<script>alert(1)</script>",
        "<SVG/onload=alert(1)>",
        '<iframe src="https://e.example"></iframe>',
        '<a href="&#106;ava&#x09;script:alert(1)">x</a>',
        '<a href=" data:text/html,x">x</a>',
        '<a href="\x00 java\tscr\nipt:alert(1)">x</a>',
        '<a href="VBScript:x">x</a>',
        '<p onclick="x">x</p>',
        "<object data=x></object>",
        "<embed src=x>",
        "<style>p{}</style>",
    ):
        assert dangers(html), html
    assert (
        dangers('<p>&lt;script&gt; onerror=x javascript:y <a href="https://e.example" rel="x">ok</a></p>')
        == []
    )


PROPERTY_SETTINGS = settings(
    max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _run_property(strategy: st.SearchStrategy[str], render: Callable[[str], str], label: str) -> Counter[str]:
    """Check `dangers(render(x)) == []` over `strategy`; returns and prints what the cases covered."""
    seen: Counter[str] = Counter()

    @PROPERTY_SETTINGS
    @given(strategy)
    def check(source: str) -> None:
        html = render(source)
        assert dangers(html) == [], (source, html)
        seen["cases"] += 1
        seen["elements"] += len(Elements(html).tags)
        seen["links kept"] += html.count("<a ")
        seen["inputs naming an evil scheme"] += any(s in source.lower() for s in EVIL_SCHEMES)

    check()
    print(f"\n{label}: " + ", ".join(f"{count} {name}" for name, count in seen.items()))
    return seen


def test_arbitrary_text_never_renders_to_markup_that_can_run():
    seen = _run_property(st.text(), markdown_to_html, "markdown_to_html(st.text())")
    assert seen["cases"] >= 100


def test_hostile_fragments_never_render_to_markup_that_can_run():
    seen = _run_property(hostile_markdown(), markdown_to_html, "markdown_to_html(hostile)")
    # The strategy reaches what matters: links survive and hostile schemes are fed in.
    assert seen["cases"] >= 100 and seen["links kept"] > 0 and seen["inputs naming an evil scheme"] > 0


def test_sanitize_alone_never_lets_markup_that_can_run_through():
    """nh3 is the second line of defence: even HTML that markdown-it would never emit comes out clean."""
    seen = _run_property(st.one_of(hostile_markdown(), st.text()), sanitize, "sanitize(hostile | text)")
    assert seen["cases"] >= 100 and seen["elements"] > 0
