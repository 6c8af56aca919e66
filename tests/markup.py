"""One HTML reader for the tests: every start tag and its attributes, in document order."""

from __future__ import annotations

from html.parser import HTMLParser


class Elements(HTMLParser):
    """Every start tag's attributes; text (escaped or not) is only text. As in a browser, the
    content of a <template> is not part of the document: its tags are left out."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._in_template = 0
        self.feed(html)
        self.close()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._in_template:
            self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)
        self._in_template += tag == "template"

    def handle_endtag(self, tag: str) -> None:
        if tag == "template" and self._in_template:
            self._in_template -= 1

    def by_id(self, element_id: str) -> dict[str, str]:
        found = [attrs for _, attrs in self.tags if attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.tags if name in (attrs.get("class") or "").split()]
