"""Labels, numbers and cross-references, as a Quarto book has them.

:func:`scan` reads the labels, cross-references and citations off a page's AST; the renderer and the checks both use
it, so they agree on what a label is. :func:`chapter_numbers` and :func:`number_page` number chapters (1, 2, …;
appendices A, B, …), sections, figures and tables; :func:`resolve_crossrefs` turns ``@fig-x`` into a link
"Figure 2.1" to the right page.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from beyond_averages.book.model import page_href
from beyond_averages.book.pages import Page
from beyond_averages.book.pandoc import ATTR_OF, SPACE, elements, str_inline, stringify, walk, word_inlines

# Quarto's cross-reference types: an id whose letters before the first '-' are one of these is a label.
CROSSREF_TYPES = frozenset(
    "fig tbl sec eq lst nte tip wrn imp cau thm lem cor prp cnj def exm exr sol rem alg".split()
)
LABEL_PATTERN = re.compile(r"^(fig|tbl|sec|eq|lst|nte|tip|wrn|imp|cau)-[a-z0-9]+(-[a-z0-9]+)*$")
PREFIXES = {"fig": "Figure", "tbl": "Table", "sec": "Section", "eq": "Equation", "lst": "Listing",
            "nte": "Note", "tip": "Tip", "wrn": "Warning", "imp": "Important", "cau": "Caution"}


def crossref_type(identifier: str) -> str | None:
    """The cross-reference type of an id (``fig`` for ``fig-x``, also for ``Fig-x`` and ``fig_x``), else None."""
    match = re.match(r"^([A-Za-z]+)[-_]", identifier)
    if match and match.group(1).lower() in CROSSREF_TYPES:
        return match.group(1).lower()
    return None


@dataclass(frozen=True)
class Scan:
    """What the checks and the renderer need to know about one page, read off its AST."""

    labels: tuple[str, ...]         # ids with a cross-reference type, in document order
    crossrefs: tuple[str, ...]      # @fig-x and friends (as written, e.g. Fig-x)
    citations: tuple[str, ...]      # every other @key
    refs_divs: int                  # how many ::: {#refs}
    h1s: tuple[tuple[str, bool], ...]  # (title text, unnumbered) of each level-1 heading


def scan(ast: dict) -> Scan:
    """Labels, cross-references, citations (``nocite`` included), ``#refs`` divs and H1s of one page's AST."""
    labels, crossrefs, citations, h1s, refs = [], [], [], [], 0
    for el in elements(ast["blocks"]):
        kind = el["t"]
        if kind in ATTR_OF:
            ident = ATTR_OF[kind](el["c"])[0]
            if ident == "refs" and kind == "Div":
                refs += 1
            elif ident and crossref_type(ident):
                labels.append(ident)
        if kind == "Header" and el["c"][0] == 1:
            h1s.append((stringify(el["c"][2]), "unnumbered" in el["c"][1][1]))
        if kind == "Cite":
            for cite in el["c"][0]:
                (crossrefs if crossref_type(cite["citationId"]) else citations).append(cite["citationId"])
    for cite in _nocite_ids(ast.get("meta", {})):
        (crossrefs if crossref_type(cite) else citations).append(cite)
    return Scan(tuple(labels), tuple(crossrefs), tuple(citations), refs, tuple(h1s))


def _nocite_ids(meta: dict) -> list[str]:
    return [c["citationId"] for el in elements(meta.get("nocite", {})) if el["t"] == "Cite" for c in el["c"][0]]


@dataclass(frozen=True)
class Target:
    """Where a label points and how a reference to it reads."""

    kind: str
    number: str | None   # "2.1", "A", None for unnumbered sections
    text: str            # heading text, used when a section has no number
    page: str            # html path relative to the output root
    word: str            # "Figure", "Table", "Chapter", "Appendix", "Section"


def chapter_numbers(pages: list[Page]) -> list[str | None]:
    """Chapter numbers as Quarto books print them: 1, 2, ... for chapters, A, B, ... for appendices.

    A page is unnumbered when its H1 is ``{.unnumbered}``, when it has no H1 (a home page then shows the book title)
    and when it is a part page.
    """
    numbers: list[str | None] = []
    chapter = appendix = 0
    for page in pages:
        h1s = scan(page.ast).h1s
        if page.entry.role == "part" or not h1s or h1s[0][1]:
            numbers.append(None)
        elif page.entry.role == "appendix":
            appendix += 1
            numbers.append(string.ascii_uppercase[(appendix - 1) % 26])
        else:
            chapter += 1
            numbers.append(str(chapter))
    return numbers


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    base = re.sub(r"\s+", "-", base) or "section"
    slug, n = base, 1
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _caption_split(blocks: list[dict]) -> tuple[list[dict], list[dict]]:
    """(body, caption inlines): a float div's caption is its last paragraph, unless that is a lone image."""
    last = blocks[-1] if len(blocks) > 1 else None
    if last and last["t"] in ("Para", "Plain") and not (len(last["c"]) == 1 and last["c"][0]["t"] == "Image"):
        return blocks[:-1], last["c"]
    return blocks, []


def number_page(page: Page, number: str | None, depth: int) -> dict[str, Target]:
    """Number this page's headings, figures, tables and callouts in place; return its labels' targets."""
    targets: dict[str, Target] = {}
    counters: dict[str, int] = {}
    sections = [0] * 8
    taken = {ident for el in elements(page.ast["blocks"]) if el["t"] in ATTR_OF
             for ident in [ATTR_OF[el["t"]](el["c"])[0]] if ident}
    seen_h1 = False

    def float_number(kind: str) -> str:
        counters[kind] = counters.get(kind, 0) + 1
        return f"{number}.{counters[kind]}" if number else str(counters[kind])

    def caption(kind: str, ident: str, inlines: list[dict]) -> list[dict]:
        num = float_number(kind)
        targets[ident] = Target(kind, num, "", page.entry.html_path, PREFIXES[kind])
        head = [str_inline(PREFIXES[kind]), SPACE, str_inline(num + (":" if inlines else ""))]
        return [{"t": "Span", "c": [["", ["float-number"], []], head]}] + ([SPACE] + inlines if inlines else [])

    def fn(el: dict):
        nonlocal seen_h1
        kind = el["t"]
        if kind == "Header":
            level, (ident, classes, kv), inlines = el["c"]
            text = stringify(inlines)
            num = None
            if level == 1 and not seen_h1:
                seen_h1 = True
                num = number if "unnumbered" not in classes else None
            elif number and level > 1 and level <= depth and "unnumbered" not in classes:
                sections[level] += 1
                sections[level + 1:] = [0] * (len(sections) - level - 1)
                num = ".".join([number, *(str(n) for n in sections[2:level + 1])])
            ident = ident or _slug(text, taken)
            if crossref_type(ident) == "sec":
                word = ("Appendix" if page.entry.role == "appendix" else "Chapter") if level == 1 else "Section"
                targets[ident] = Target("sec", num, text, page.entry.html_path, word)
            if num:
                inlines = [{"t": "Span", "c": [["", ["header-section-number"], []], [str_inline(num)]]}, SPACE, *inlines]
            return {"t": "Header", "c": [level, [ident, classes, kv], inlines]}
        if kind == "Figure" and crossref_type(el["c"][0][0]) == "fig":
            attr, (short, blocks), body = el["c"]
            inlines = blocks[0]["c"] if blocks else []
            return {"t": "Figure", "c": [attr, [short, [{"t": "Plain", "c": caption("fig", attr[0], inlines)}]], body]}
        if kind == "Table" and crossref_type(el["c"][0][0]) == "tbl":
            attr, (short, blocks), *rest = el["c"]
            inlines = blocks[0]["c"] if blocks else []
            return {"t": "Table", "c": [attr, [short, [{"t": "Plain", "c": caption("tbl", attr[0], inlines)}]], *rest]}
        if kind == "Div":
            (ident, classes, kv), blocks = el["c"]
            ref = crossref_type(ident)
            if ref == "fig":
                body, inlines = _caption_split(blocks)
                cap = [{"t": "Plain", "c": caption("fig", ident, inlines)}]
                return {"t": "Figure", "c": [[ident, [*classes, "quarto-float"], kv], [None, cap], body]}
            if ref == "tbl":
                body, inlines = _caption_split(blocks)
                head = {"t": "Div", "c": [["", ["table-caption"], []], [{"t": "Plain",
                                                                        "c": caption("tbl", ident, inlines)}]]}
                return {"t": "Div", "c": [[ident, [*classes, "quarto-float", "table-float"], kv], [head, *body]]}
        if kind == "Image":
            attr, inlines, target = el["c"]
            kv = [[k, v] for k, v in attr[2] if k != "fig-alt"]
            alt = dict(attr[2]).get("fig-alt")
            if alt and "alt" not in dict(kv):
                kv.append(["alt", alt])
            return {"t": "Image", "c": [[attr[0], attr[1], kv], inlines, target]}
        return None

    # Callouts first: a heading that titles a callout is not a section and must not take a number.
    page.ast["blocks"] = walk(walk(page.ast["blocks"], _callout), fn)
    return targets


def _callout(el: dict) -> dict | None:
    """``::: {.callout-note}`` as a titled box: the title is ``title="…"`` or the first heading inside."""
    if el["t"] != "Div":
        return None
    (ident, classes, kv), blocks = el["c"]
    kind = next((c.removeprefix("callout-") for c in classes if c.startswith("callout-")), None)
    if kind is None:
        return None
    title = [str_inline(dict(kv).get("title", ""))] if dict(kv).get("title") else []
    if not title and blocks and blocks[0]["t"] == "Header":
        title, blocks = blocks[0]["c"][2], blocks[1:]
    title = title or [str_inline(kind.capitalize())]
    header = {"t": "Div", "c": [["", ["callout-header"], []], [{"t": "Plain", "c": title}]]}
    body = {"t": "Div", "c": [["", ["callout-body"], []], blocks]}
    return {"t": "Div", "c": [[ident, ["callout", *classes], [[k, v] for k, v in kv if k != "title"]],
                              [header, body]]}


def resolve_crossrefs(page: Page, targets: Mapping[str, Target]) -> list[str]:
    """Replace ``@fig-x``-style citations by links ("Figure 2.1"); return the labels that match nothing."""
    unresolved: list[str] = []

    def link(cite: dict) -> list[dict]:
        ident = cite["citationId"]
        label = ident[0].lower() + ident[1:]
        target = targets.get(label)
        if target is None:
            unresolved.append(ident)
            return [str_inline("@" + ident)]
        number = target.number or target.text
        if cite["citationMode"]["t"] == "SuppressAuthor":
            text = word_inlines(number)
        elif cite["citationPrefix"]:
            text = [*cite["citationPrefix"], SPACE, *word_inlines(number)]
        else:
            text = word_inlines(f"{target.word} {number}" if target.number else number)
        return [{"t": "Link", "c": [["", ["quarto-xref"], []], text,
                                    [page_href(page.entry.html_path, target.page, label), ""]]},
                *cite["citationSuffix"]]

    def fn(el: dict):
        if el["t"] != "Cite":
            return None
        refs = [c for c in el["c"][0] if crossref_type(c["citationId"])]
        if not refs:
            return None
        out: list[dict] = []
        for i, cite in enumerate(refs):
            out += ([str_inline(","), SPACE] if i else []) + link(cite)
        others = [c for c in el["c"][0] if not crossref_type(c["citationId"])]
        if others:
            out = [{"t": "Cite", "c": [others, [str_inline("@" + others[0]["citationId"])]]}, str_inline(";"), SPACE, *out]
        return out

    page.ast["blocks"] = walk(page.ast["blocks"], fn)
    return unresolved
