"""Navigation in the fallback book: the contents list of each chapter, the search index, print and phone styles.

The rendered book is the session's executed book (``executed_book`` in conftest.py); the settings (``toc-depth``,
``toc-title``, ``toc: false`` in a chapter, ``unlisted`` headings, ``search: false``) are tried on the tiny synthetic
book of test_book.py. The HTML is read here with regular expressions, independently of the renderer's own parser.
test_browser.py checks the same features in Chromium.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import yaml
from beyond_averages import paths
from beyond_averages.book import load_book, render_fallback
from beyond_averages.files import InputError
from test_book import make_book

TAG = re.compile(r"<[^>]+>")


def text_of(fragment: str, joint: str = " ") -> str:
    """The text of an HTML fragment; ``joint=""`` runs it on across tags (inside a heading, "<em>x</em>y" is "xy")."""
    return " ".join(html.unescape(TAG.sub(joint, fragment)).split())


def main_of(page: str) -> str:
    return page[page.index('<main class="content">'):page.index("</main>")]


def headings(page: str, levels: str = "23") -> list[tuple[str, str]]:
    """(id, text with its number) of each heading of these levels in the page's main text."""
    return [(re.search(r'\sid="([^"]+)"', m.group(2)).group(1), text_of(m.group(3), ""))
            for m in re.finditer(rf"<h([{levels}])(\s[^>]*)>(.*?)</h\1>", main_of(page), re.DOTALL)]


def toc_of(page: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(title, [(anchor, text)]) of the page's contents list, or None."""
    match = re.search(r'<nav class="page-toc".*?</nav>', page, re.DOTALL)
    if not match:
        return None
    title = text_of(re.search(r'<p class="page-toc-title"[^>]*>(.*?)</p>', match.group(0), re.DOTALL).group(1))
    return title, [(m.group(1), text_of(m.group(2), ""))
                   for m in re.finditer(r'<a href="#([^"]+)">(.*?)</a>', match.group(0), re.DOTALL)]


def ids_of(page: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', page))


@pytest.fixture(scope="module")
def site(executed_book) -> Path:
    return executed_book / "reports" / "_book"


@pytest.fixture(scope="module")
def chapter_pages(executed_book, site) -> dict[str, str]:
    """Every page of the book except part pages: html path -> HTML."""
    return {e.html_path: (site / e.html_path).read_text(encoding="utf-8")
            for e in load_book(executed_book).entries() if e.role != "part"}


# ------------------------------------------------------------------------------------------------ on this page
def test_every_chapter_lists_its_headings_with_working_anchors(chapter_pages):
    with_toc = numbered = 0
    for rel, page in chapter_pages.items():
        expected = headings(page)  # _quarto.yml: toc: true, no toc-depth, so levels 2 and 3 (pandoc's default 3)
        toc = toc_of(page)
        if not expected:
            assert toc is None, f"{rel}: a contents list with no heading to list"
            continue
        with_toc += 1
        assert toc is not None, f"{rel}: no contents list for {expected}"
        title, entries = toc
        assert title == "Table of contents"
        assert entries == expected, rel
        assert all(anchor in ids_of(main_of(page)) for anchor, _ in entries), rel
        numbered += sum(bool(re.match(r"^([0-9]+|[A-Z])(\.[0-9]+)+ ", text)) for _, text in entries)  # 5.1, A.1
    # Introduction, review, qualitative, study population and ITS chapters have numbered sections.
    assert with_toc >= 5, f"only {with_toc} pages have a contents list"
    assert numbered >= 15, "the contents lists lost the section numbers"


def test_its_chapter_contents_are_its_sections(chapter_pages):
    """The ITS chapter's contents list its six sections in order, numbered with the chapter's own number (its place
    in _quarto.yml)."""
    entries = toc_of(chapter_pages["reports/executed/its.html"])[1]
    numbers = [text.split(" ", 1)[0] for _, text in entries]
    chapter = numbers[0].split(".")[0]
    assert numbers == [f"{chapter}.{i}" for i in range(1, 7)]
    assert entries[0] == ("sec-its-methods", f"{chapter}.1 Methods")
    assert entries[1] == ("sec-its-stacked", f"{chapter}.2 Stacked controlled analysis: every wave (headline)")
    assert entries[-1] == ("sec-its-conclusions", f"{chapter}.6 Conclusions by rule")


def test_contents_follow_toc_depth_title_front_matter_and_unlisted(tmp_path):
    root = make_book(tmp_path)
    config = yaml.safe_load((root / "_quarto.yml").read_text())
    config["format"] = {"html": {"toc": True, "toc-depth": 2, "toc-title": "On this page"}}
    (root / "_quarto.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    intro = (root / "reports/intro.qmd").read_text()
    (root / "reports/intro.qmd").write_text(intro + "\n### Detail {#sec-detail}\n\nText.\n\n## Aside {.unlisted}\n\nMore.\n")
    (root / "reports/codes.qmd").write_text("---\ntoc: false\n---\n" + (root / "reports/codes.qmd").read_text()
                                            + "\n## Notes\n\nSynthetic.\n")
    site = render_fallback(root)
    intro_page = (site / "reports/intro.html").read_text(encoding="utf-8")
    assert toc_of(intro_page) == ("On this page", [("sec-background", "1.1 Background")])  # no h3, no unlisted
    assert [h for h, _ in headings(intro_page)] == ["sec-background", "sec-detail", "aside"]
    assert toc_of((site / "reports/codes.html").read_text(encoding="utf-8")) is None  # the chapter's toc: false

    config["format"]["html"]["toc-depth"] = 3
    (root / "_quarto.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    site = render_fallback(root)
    assert toc_of((site / "reports/intro.html").read_text(encoding="utf-8"))[1] == [
        ("sec-background", "1.1 Background"), ("sec-detail", "1.1.1 Detail")]

    del config["format"]
    (root / "_quarto.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    site = render_fallback(root)  # Quarto shows no contents list without `toc: true`
    assert toc_of((site / "reports/intro.html").read_text(encoding="utf-8")) is None


def test_bad_toc_depth_is_named(tmp_path):
    root = make_book(tmp_path)
    (root / "reports/intro.qmd").write_text("---\ntoc: true\ntoc-depth: deep\n---\n# Intro\n\n## A\n")
    with pytest.raises(InputError, match=r"^reports/intro.qmd: toc-depth must be a whole number from 1 to 6, got 'deep'$"):
        render_fallback(root)


# ------------------------------------------------------------------------------------------------------ search
def test_search_index_holds_every_page_and_finds_a_word_of_each_chapter(site, chapter_pages):
    index = json.loads((site / "search.json").read_text(encoding="utf-8"))
    script = (site / "search-index.js").read_text(encoding="utf-8")
    assert script.startswith("window.bookSearchIndex = ") and json.loads(script[25:].rstrip().rstrip(";")) == index
    on_disk = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert sorted(p["href"] for p in index["pages"]) == on_disk
    assert index["pages"][0]["title"] == "Preface"
    texts = {rel: text_of(re.sub(r"<nav\b.*?</nav>", " ", main_of(page), flags=re.DOTALL)).lower()
             for rel, page in chapter_pages.items()}
    checked = 0
    for rel, text in texts.items():
        others = " ".join(t for other, t in texts.items() if other != rel)
        unique = sorted(w for w in set(re.findall(r"[a-z]{6,}", text)) if w not in others)  # not even inside a word
        if not unique:
            continue
        word, checked = unique[len(unique) // 2], checked + 1
        hits = {p["href"] for p in index["pages"] for s in p["sections"]
                if word in s["text"].lower() or word in s["title"].lower()}
        assert hits == {rel}, f"{word!r}, found only in {rel}, is indexed for {hits}"
    assert checked >= 6


def test_index_sections_point_at_headings_of_their_page(site):
    index = json.loads((site / "search.json").read_text(encoding="utf-8"))
    for entry in index["pages"]:
        page = (site / entry["href"]).read_text(encoding="utf-8")
        anchors = [s["anchor"] for s in entry["sections"]]
        assert anchors[0] == "" and anchors[1:] == [h for h, _ in headings(page, "23456")], entry["href"]
        assert all("Table of contents" not in s["text"] for s in entry["sections"])  # navigation is not text


def test_search_false_removes_the_box_and_the_index(tmp_path):
    root = make_book(tmp_path)
    config = yaml.safe_load((root / "_quarto.yml").read_text())
    config["book"]["search"] = False
    (root / "_quarto.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    site = render_fallback(root)
    assert not (site / "search.json").exists() and not (site / "search-index.js").exists()
    assert 'id="search-input"' not in (site / "index.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------- print and phones
def css_block(css: str, at_rule: str) -> str:
    start = css.index(at_rule)
    depth, i = 0, css.index("{", start)
    for j in range(i, len(css)):
        depth += {"{": 1, "}": -1}.get(css[j], 0)
        if depth == 0:
            return css[i + 1:j]
    raise AssertionError(f"unclosed {at_rule}")


def rules(block: str) -> dict[str, str]:
    return {sel.strip(): body for sels, body in re.findall(r"([^{}]+)\{([^{}]*)\}", block) for sel in sels.split(",")}


def test_print_stylesheet_hides_navigation_and_breaks_before_chapters(site):
    printed = rules(css_block((site / "book.css").read_text(encoding="utf-8"), "@media print"))
    for selector in (".sidebar", ".page-toc", ".book-search", ".page-navigation"):
        assert re.search(r"display:\s*none", printed[selector]), selector
    assert re.search(r"break-before:\s*page", printed["h1"])
    assert "::after" not in "".join(printed)  # no URLs printed after links


def test_narrow_screens_fold_the_chapter_list_behind_a_menu_button(site, chapter_pages):
    narrow = rules(css_block((site / "book.css").read_text(encoding="utf-8"), "@media (max-width: 768px)"))
    assert re.search(r"display:\s*none", narrow[".js .sidebar:not(.menu-open) .chapters-menu"])
    assert re.search(r"display:\s*inline-block", narrow[".menu-toggle"])
    for rel, page in chapter_pages.items():
        button = re.search(r'<button type="button" class="menu-toggle" aria-expanded="false" '
                           r'aria-controls="book-chapters">Contents</button>', page)
        menu = re.search(r'<div id="book-chapters" class="chapters-menu">\s*<ul class="chapters">', page)
        assert button and menu, rel


# -------------------------------------------------------------------------------------------------- with Quarto
def test_quarto_sources_ask_for_the_contents_list_and_keep_search():
    """With real Quarto the contents list and search come from Quarto: `toc: true` under `format: html:` (QUARTO.md
    §1) and no `search: false` (search is on by default in a book)."""
    config = yaml.safe_load((paths.ROOT / "_quarto.yml").read_text())
    assert config["format"]["html"]["toc"] is True
    assert config["book"].get("search", True) is not False
