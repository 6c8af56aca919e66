"""Markdown to safe HTML: the allow-list survives, raw HTML is text, hostile input never becomes markup."""

from __future__ import annotations

import re

import pytest

from liveblog.render import markdown_to_html, sanitize

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
