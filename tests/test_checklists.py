"""Reporting checklists as appendices (#15, item 3): PRISMA 2020, COREQ and RECORD mapping files.

Item ids are those of the published checklists: PRISMA 2020 has 27 items, several with sub-items (Page et al.
2021, BMJ 372:n71); COREQ has 32 (Tong, Sainsbury and Craig 2007); RECORD adds 13 items to STROBE (Benchimol et
al. 2015, PLoS Med 12:e1001885).
"""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from beyond_averages import paths
from beyond_averages.book import load_book
from beyond_averages.book.appendices import anchor_link, checklist_blocks, generated_name, load_checklist
from beyond_averages.files import InputError

PRISMA_2020 = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10a", "10b", "11", "12", "13a", "13b", "13c", "13d",
               "13e", "13f", "14", "15", "16a", "16b", "17", "18", "19", "20a", "20b", "20c", "20d", "21", "22",
               "23a", "23b", "23c", "23d", "24a", "24b", "24c", "25", "26", "27"]
COREQ = [str(i) for i in range(1, 33)]
RECORD = ["1.1", "1.2", "1.3", "6.1", "6.2", "6.3", "7.1", "12.1", "12.2", "12.3", "13.1", "19.1", "22.1"]
CHECKLISTS = {"prisma2020": PRISMA_2020, "coreq": COREQ, "record": RECORD}


@pytest.mark.parametrize("name", sorted(CHECKLISTS))
def test_every_published_item_is_mapped_or_marked_with_a_reason(name):
    items = load_checklist(paths.ROOT, name)["items"]
    assert [str(i["id"]) for i in items] == CHECKLISTS[name]
    for item in items:
        assert item.get("where") or len(str(item.get("not_reported", "")).split()) >= 2, item
        for target in item.get("where") or []:
            assert re.fullmatch(r"(reports|outputs)/[\w/.-]+\.(ipynb|qmd)#[\w-]+", target), target


def test_the_book_lists_each_checklist_as_a_generated_appendix():
    listed = {generated_name(p) for p in load_book(paths.ROOT).appendices}
    assert set(CHECKLISTS) | {"provenance", "disclosure"} <= listed


def test_an_item_both_mapped_and_marked_is_named(tmp_path):
    (tmp_path / "reports/checklists").mkdir(parents=True)
    items = [{"id": "1", "topic": "Title", "where": ["reports/a.qmd#x"], "not_reported": "because"}]
    (tmp_path / "reports/checklists/demo.yaml").write_text(yaml.safe_dump({"title": "Demo", "items": items}))
    with pytest.raises(InputError, match=r"^reports/checklists/demo\.yaml: item 1: give either 'where'"):
        load_checklist(tmp_path, "demo")


def test_links_use_cross_references_or_the_heading_and_unknown_anchors_are_named(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/intro.qmd").write_text("# Introduction {#sec-intro}\n\n## The problem\n\nText.\n")
    cache: dict = {}
    assert anchor_link(tmp_path, "reports/executed", "reports/intro.qmd#sec-intro", cache) == "@sec-intro"
    assert anchor_link(tmp_path, "reports/executed", "reports/intro.qmd#the-problem", cache) == (
        "[The problem](../intro.qmd#the-problem)")
    with pytest.raises(InputError, match="'reports/intro.qmd#objectives': no heading with that anchor"):
        anchor_link(tmp_path, "reports/executed", "reports/intro.qmd#objectives", cache)


def test_not_reported_items_say_why_in_the_rendered_table(executed_book):
    # The book's executed chapters are needed to resolve the headings the items link to (a fresh clone has none).
    title, blocks = checklist_blocks(executed_book, "coreq")
    rows = [r for r in blocks[-1].splitlines() if r.startswith("| ") and not r.startswith("| Item")]
    assert title.startswith("COREQ") and len(rows) == 32
    assert "| 1 | Interviewer/facilitator | Not reported: synthetic transcripts: no interviewer |" in rows
    assert "| 29 | Quotations presented | @tbl-qual-quotes |" in rows


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if attrs.get("id"):
            self.ids.add(attrs["id"])


def parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("name", sorted(CHECKLISTS))
def test_every_checklist_link_resolves_to_an_anchor_of_the_rendered_book(executed_book, name):
    out = executed_book / "reports/_book"
    page = out / f"outputs/appendices/{name}.html"
    items = load_checklist(paths.ROOT, name)["items"]
    links = [h for h in parse(page).hrefs if "#" in h and not h.startswith(("http", "#"))]
    main = page.read_text(encoding="utf-8")
    assert main.count("Not reported: ") == sum(1 for i in items if i.get("not_reported"))
    assert len(links) >= sum(len(i.get("where") or []) for i in items)
    for href in links:
        file, _, anchor = href.partition("#")
        target = out / posixpath.normpath(posixpath.join("outputs/appendices", file))
        assert target.exists(), href
        assert anchor in parse(target).ids, href
