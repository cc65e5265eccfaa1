"""Parse a report page with the standard library and pull out what the tests check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

URL_ATTRS = {"src", "href", "xlink:href", "action", "poster", "srcset", "data"}


@dataclass
class Page:
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    figure_of: list[str] = field(default_factory=list)  # per tag: its enclosing <svg>'s aria-label
    text: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # SVG <title> tooltips

    def count(self, tag: str, cls: str | None = None, figure: str | None = None) -> int:
        """Tags named ``tag`` with class ``cls``; only inside the <svg> labelled ``figure`` when given."""
        return sum(1 for (t, a), fig in zip(self.tags, self.figure_of, strict=True)
                   if t == tag and (cls is None or cls in a.get("class", "").split())
                   and (figure is None or fig == figure))

    def figures(self) -> list[str]:
        return [a.get("aria-label", "") for t, a in self.tags if t == "svg" and a.get("role") == "img"]

    @property
    def all_text(self) -> str:
        return " ".join(self.text)

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._in_title = False
        self._svg: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "svg":
            self._svg.append(a.get("aria-label", ""))
        self.page.tags.append((tag, a))
        self.page.figure_of.append(self._svg[-1] if self._svg else "")
        self._in_title = tag == "title"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "svg" and self._svg:
            self._svg.pop()

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        if tag == "svg" and self._svg:
            self._svg.pop()

    def handle_data(self, data: str) -> None:
        self.page.text.append(data)
        if self._in_title:
            self.page.titles.append(data)


def parse(html: str) -> Page:
    p = _Parser()
    p.feed(html)
    p.close()
    return p.page


def external_references(html: str) -> list[str]:
    """Every reference a browser could fetch: URL attributes other than '#...' and data:,
    any http(s):// or protocol-relative text, and CSS url() other than url(#...)."""
    found = []
    for tag, attrs in parse(html).tags:
        for name, value in attrs.items():
            if name in URL_ATTRS and not (value.startswith(("#", "data:"))):
                found.append(f"<{tag} {name}={value!r}>")
    found += re.findall(r"https?://\S{0,40}", html)
    found += [m for m in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html) if not m.startswith(("#", "data:"))]
    found += re.findall(r"@import[^;]*", html)
    return found
