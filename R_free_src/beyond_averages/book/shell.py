"""The HTML shell every page shares (``templates/book.html``): title, sidebar navigation, previous/next links."""

from __future__ import annotations

import html
import string
from pathlib import Path

from beyond_averages.book.model import Book, page_href
from beyond_averages.book.pages import Page

TEMPLATES = Path(__file__).with_name("templates")


def page_html(book: Book, pages: list[Page], numbers: list[str | None], titles: list[str], current: int,
              body: str) -> str:
    """Page ``current`` (its HTML ``body``) in the shell; the home page also shows title, subtitle, author, date."""
    here = pages[current].entry.html_path
    label = f"{numbers[current]} {titles[current]}" if numbers[current] else titles[current]
    shell = string.Template((TEMPLATES / "book.html").read_text(encoding="utf-8"))
    return shell.substitute(
        lang=html.escape(book.lang), page_title=html.escape(f"{label} – {book.title}" if book.title else label),
        css=page_href(here, "book.css"), home=page_href(here, "index.html"), book_title=html.escape(book.title),
        nav=_navigation(pages, numbers, titles, current), pager=_pager(pages, numbers, titles, current),
        title_block=_title_block(book) if here == "index.html" else "", body=body)


def _navigation(pages: list[Page], numbers: list[str | None], titles: list[str], current: int) -> str:
    """The sidebar: every page with its number; a part (or "Appendices") is a heading over a nested list."""
    here = pages[current].entry.html_path
    lines, group = ['<ul class="chapters">'], None

    def item(i: int, css: str) -> str:
        number = f'<span class="chapter-number">{numbers[i]}</span> ' if numbers[i] else ""
        active = ' aria-current="page"' if i == current else ""
        return (f'<a class="{css}" href="{page_href(here, pages[i].entry.html_path)}"{active}>'
                f'{number}{html.escape(titles[i])}</a>')

    for i, page in enumerate(pages):
        entry = page.entry
        if entry.part != group:
            if group is not None:
                lines.append("</ul></li>")
            group = entry.part
            if group is not None:
                head = item(i, "part-title") if entry.role == "part" else f'<span class="part-title">{html.escape(group)}</span>'
                lines.append(f'<li class="part">{head}<ul>')
                if entry.role == "part":
                    continue
        lines.append(f'<li class="chapter{" active" if i == current else ""}">{item(i, "chapter-link")}</li>')
    if group is not None:
        lines.append("</ul></li>")
    lines.append("</ul>")
    return "\n".join(lines)


def _pager(pages: list[Page], numbers: list[str | None], titles: list[str], current: int) -> str:
    here, out = pages[current].entry.html_path, []
    for j, rel, arrow in ((current - 1, "prev", "&larr; "), (current + 1, "next", "")):
        if 0 <= j < len(pages):
            label = f"{numbers[j]} {titles[j]}" if numbers[j] else titles[j]
            text = f"{arrow}{html.escape(label)}" + (" &rarr;" if rel == "next" else "")
            out.append(f'<a class="{rel}" rel="{rel}" href="{page_href(here, pages[j].entry.html_path)}">{text}</a>')
    return "\n".join(out)


def _title_block(book: Book) -> str:
    lines = ['<header class="title-block">', f'<p class="book-title">{html.escape(book.title)}</p>']
    if book.subtitle:
        lines.append(f'<p class="subtitle">{html.escape(book.subtitle)}</p>')
    if book.author:
        lines.append(f'<p class="author">{html.escape(", ".join(book.author))}</p>')
    if book.date:
        lines.append(f'<p class="date">{html.escape(book.date)}</p>')
    return "\n".join([*lines, "</header>"])
