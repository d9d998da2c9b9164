"""What a reader sees: the title page comes from study.yaml's `thesis:` block, and no rendered page addresses the
developer (instructions, template text, placeholders). The pages are those of the `executed_book` fixture (every
chapter executed once, rendered by the fallback renderer)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from beyond_averages import config, paths
from beyond_averages.files import InputError
from beyond_averages.book import title_page

# Phrases that speak to whoever maintains the code, not to the reader. Matched case-insensitively on the visible
# text of each page (scripts, styles and attribute values are not read).
DEVELOPER_PHRASES = (
    "point the chapter", "compendium template", "todo", "fixme", "xxx", "tbd", "lorem ipsum", "placeholder",
    "replace the", "replace it", "run `make", "running `make", "run make", "make render", "make test",
    "parameters", "papermill", "notebook", ".ipynb", "study.yaml", "_quarto.yml", "edit this", "edit the",
    "set this", "when the chapter is run", "traceback", "deprecationwarning", "futurewarning", "userwarning",
    "phd candidate (",
)
WORD_LIKE = {"todo", "fixme", "xxx", "tbd", "placeholder"}  # whole words: the synthetic surname "Placeholderson" is fine


class _VisibleText(HTMLParser):
    """The text a reader sees, without scripts and styles, and without the provenance records (the collapsed
    ``<details class="provenance">`` after each figure and table): naming the notebook, its settings and its input
    files is their job, so they are the one place where such words belong."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._provenance: tuple[str, int] | None = None   # (tag, depth) while inside a provenance element

    def handle_starttag(self, tag, attrs):
        if self._provenance:
            if tag == self._provenance[0]:
                self._provenance = (tag, self._provenance[1] + 1)
            return
        if "provenance" in (dict(attrs).get("class") or "").split():
            self._provenance = (tag, 1)
        elif tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if self._provenance:
            if tag == self._provenance[0]:
                depth = self._provenance[1] - 1
                self._provenance = (tag, depth) if depth else None
            return
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and not self._provenance:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def developer_phrases(text: str) -> list[str]:
    low = text.lower()
    found = []
    for phrase in DEVELOPER_PHRASES:
        pattern = rf"\b{re.escape(phrase)}\b" if phrase in WORD_LIKE else re.escape(phrase)
        for m in re.finditer(pattern, low):
            found.append(f"{phrase!r} in '…{text[max(0, m.start() - 60):m.end() + 60]}…'")
    return found


def test_the_scan_catches_what_the_issue_saw():
    """The phrases the issue found on rendered pages are caught; ordinary prose is not."""
    assert developer_phrases("Point the chapter's parameters at the real screening log to replace it.")
    assert developer_phrases("PhD candidate (compendium template)")
    assert developer_phrases("or larger studies when the chapter is run with bar heights by size")
    assert developer_phrases("TODO: cite") and not developer_phrases("Studies to do with access")
    assert not developer_phrases("The difference was 0.35 percentage points (95% CI 0.10 to 0.60; p = 0.004).")
    # Provenance records may name notebooks and files; nothing else on the page may, and nesting is followed.
    page = ('<p>Figure 1.</p><details class="provenance"><summary>Provenance</summary><div><div>notebooks/its.ipynb'
            '</div></div></details><p>See the notebook.</p>')
    assert visible_text(page) == "Figure 1. See the notebook."
    assert developer_phrases(visible_text(page))


@pytest.fixture(scope="module")
def pages(executed_book) -> dict[str, str]:
    out = executed_book / "reports" / "_book"
    found = {str(p.relative_to(out)): visible_text(p.read_text(encoding="utf-8")) for p in sorted(out.rglob("*.html"))}
    assert len(found) >= 8, sorted(found)  # preface, introduction, five chapters, references
    return found


def test_no_rendered_page_addresses_the_developer(pages):
    problems = [f"{name}: {hit}" for name, text in pages.items() for hit in developer_phrases(text)]
    assert not problems, "\n".join(problems[:15])


def test_title_page_shows_the_thesis_block(pages, study):
    thesis = study.thesis
    index = pages["index.html"]
    assert thesis.title in index and thesis.author in index and thesis.institution in index
    assert thesis.data_cut.isoformat() in index


# -- the title page written from study.yaml ------------------------------------------------------------------
def test_committed_quarto_yml_agrees_with_study_yaml(study):
    """Like the data dictionary: the committed `_quarto.yml` is what `write_book_metadata` would write."""
    text = (paths.ROOT / "_quarto.yml").read_text(encoding="utf-8")
    assert title_page.with_book_metadata(text, study.thesis) == text, \
        "_quarto.yml's title page differs from study.yaml's thesis: block; run write_book_metadata()"
    book = yaml.safe_load(text)["book"]
    assert book["title"] == study.thesis.title and book["date"] == study.thesis.data_cut.isoformat()
    assert book["author"] == f"{study.thesis.author}, {study.thesis.institution}"
    assert "compendium template" not in text


def _thesis(**kw) -> config.Thesis:
    base = {"title": 'A "quoted": title', "subtitle": None, "author": "A. Writer", "institution": "Some University",
            "data_cut": "2024-03-31"}
    return config.Thesis(**{**base, **kw})


def test_with_book_metadata_keeps_everything_else():
    text = ("project:\n  type: book\n\nbook:\n  title: \"Old\"\n  subtitle: \"Gone\"\n  author: \"Old\"\n"
            "  chapters:\n    - index.qmd\n    - part: \"P\"\n      chapters:\n        - a.qmd\n\nlang: en-GB\n")
    new = title_page.with_book_metadata(text, _thesis())
    assert new == ("project:\n  type: book\n\nbook:\n  title: \"A \\\"quoted\\\": title\"\n"
                   "  author: \"A. Writer, Some University\"\n  date: \"2024-03-31\"\n"
                   "  chapters:\n    - index.qmd\n    - part: \"P\"\n      chapters:\n        - a.qmd\n\nlang: en-GB\n")
    assert yaml.safe_load(new)["book"]["title"] == 'A "quoted": title'
    assert title_page.with_book_metadata(new, _thesis()) == new  # idempotent
    with pytest.raises(InputError, match="_quarto.yml: no top-level 'book:' block"):
        title_page.with_book_metadata("project:\n  type: book\n", _thesis())


def test_write_book_metadata_writes_only_on_change(tmp_path: Path):
    study_text = (paths.ROOT / "study.yaml").read_text(encoding="utf-8")
    (tmp_path / "study.yaml").write_text(study_text, encoding="utf-8")
    (tmp_path / "_quarto.yml").write_text("book:\n  title: \"x\"\n  chapters:\n    - index.qmd\n", encoding="utf-8")
    assert title_page.write_book_metadata(tmp_path) is True
    assert title_page.write_book_metadata(tmp_path) is False
    assert "Doctoral candidate" in (tmp_path / "_quarto.yml").read_text(encoding="utf-8")
    (tmp_path / "study.yaml").write_text(re.sub(r"(?ms)^thesis:.*?(?=^\S)", "", study_text), encoding="utf-8")
    with pytest.raises(InputError, match=r"study.yaml: key 'thesis': required"):
        title_page.write_book_metadata(tmp_path)


def test_data_cut_before_study_end_is_an_error(tmp_path: Path):
    text = (paths.ROOT / "study.yaml").read_text(encoding="utf-8")
    (tmp_path / "study.yaml").write_text(re.sub(r"data_cut: \S+", "data_cut: 2023-06-30", text), encoding="utf-8")
    with pytest.raises(config.ConfigError, match="thesis.data_cut 2023-06-30 is before study_end 2023-12-01"):
        config.load_study(tmp_path / "study.yaml")
