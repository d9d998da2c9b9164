"""Character positions in REFI-QDA projects: UTF-16 code units or Unicode code points, and how to tell which.

A ``PlainTextSelection``'s ``startPosition``/``endPosition`` count characters of its source's plain text, but tools
count differently. NVivo, a .NET program, counts UTF-16 code units (a .NET ``string`` index), so a character outside
the Basic Multilingual Plane (most emoji) counts two; a Python ``str`` counts it once (code points). The two units
agree up to the first such character and drift by one per such character after it. Line endings are never
translated: the CR of a CRLF counts one in both units.

:func:`decide_unit` chooses the unit of a project. ``"auto"`` starts from the writing tool (the ``origin`` attribute
of the project; see :data:`KNOWN_ORIGINS`) and checks the choice on the data: of the spans that the two units would
cut differently, how many start and end on a word boundary (or on a line end) under each unit, and how many are
impossible under each (past the end of the text; inside a surrogate pair). When the tool is unknown, the evidence
decides; when it is known and the evidence contradicts it clearly, the evidence wins; when the evidence is weak or
contradicts the tool, a warning names the project and the counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

Unit = Literal["utf16", "codepoint"]
UnitChoice = Literal["utf16", "codepoint", "auto"]
UNITS: tuple[str, ...] = ("utf16", "codepoint")

# Writing tools whose unit is known, matched as a case-insensitive prefix of the project's ``origin``. NVivo counts
# UTF-16 code units (the issue that led here: an NVivo 12 export drifts by one per emoji when read as code points).
KNOWN_ORIGINS: dict[str, Unit] = {"nvivo": "utf16"}
# This package's writer states its unit in the origin (refi_export.ORIGINS): a declaration, taken without a check.
DECLARED_ORIGINS: dict[str, Unit] = {
    "beyond_averages; positions in utf-16 code units": "utf16",
    "beyond_averages": "codepoint",
}
STRONG_MARGIN = 2.0   # the winner fits at least twice as many differing spans as the loser...
STRONG_MINIMUM = 3    # ...and at least this many


def prior_unit(origin: str, table: dict[str, Unit] = KNOWN_ORIGINS) -> Unit | None:
    """The unit of the writing tool named by ``origin``, or None when it is not known (longest prefix wins)."""
    low = (origin or "").strip().lower()
    for prefix in sorted(table, key=len, reverse=True):
        if low.startswith(prefix):
            return table[prefix]
    return None


class Utf16Index:
    """Converts between UTF-16 code-unit offsets and code-point offsets of one text."""

    def __init__(self, text: str):
        wide = np.fromiter((ord(c) > 0xFFFF for c in text), dtype=bool, count=len(text))
        # units[i] = UTF-16 offset of code point i (and units[len] = length in code units)
        self.units = np.concatenate([[0], np.cumsum(1 + wide.astype(np.int64))])
        self.has_wide = bool(wide.any())

    @property
    def length(self) -> int:
        return int(self.units[-1])

    def to_codepoint(self, offset: int) -> int | None:
        """The code point at UTF-16 ``offset``; None if it is past the end or inside a surrogate pair."""
        if offset < 0 or offset > self.length:
            return None
        i = int(np.searchsorted(self.units, offset))
        return i if self.units[i] == offset else None

    def to_utf16(self, index: int) -> int:
        return int(self.units[index])


@lru_cache(maxsize=256)
def utf16_index(text: str) -> Utf16Index:
    """The (cached) :class:`Utf16Index` of ``text``."""
    return Utf16Index(text)


def on_boundary(text: str, i: int) -> bool:
    """True at the start or end of the text, or where a word character does not continue a word character."""
    if i <= 0 or i >= len(text):
        return True
    return not (text[i - 1].isalnum() and text[i].isalnum())


@dataclass(frozen=True)
class Evidence:
    """How spans fit each unit. ``differing``: spans the two units cut differently (the only ones that tell);
    ``fit_*``: of those, spans valid in the unit with both ends on a word boundary; ``impossible_*``: spans that
    cannot be in the unit (past the end of the text, or splitting a surrogate pair)."""

    spans: int
    differing: int
    fit_utf16: int
    fit_codepoint: int
    impossible_utf16: int
    impossible_codepoint: int

    def favours(self) -> Unit | None:
        """The unit the evidence clearly favours, or None when it is weak."""
        if self.impossible_codepoint and not self.impossible_utf16:
            return "utf16"
        if self.impossible_utf16 and not self.impossible_codepoint:
            return "codepoint"
        for unit, other in (("utf16", "codepoint"), ("codepoint", "utf16")):
            mine, theirs = getattr(self, f"fit_{unit}"), getattr(self, f"fit_{other}")
            if mine >= STRONG_MINIMUM and mine >= STRONG_MARGIN * theirs:
                return unit
        return None

    def describe(self) -> str:
        return (f"{self.differing} of {self.spans} spans differ between the units; on word boundaries as UTF-16 "
                f"code units {self.fit_utf16}, as code points {self.fit_codepoint}; impossible as UTF-16 "
                f"{self.impossible_utf16}, as code points {self.impossible_codepoint}")


def gather_evidence(spans: Iterable[tuple[str, int, int]], texts: Mapping[str, str]) -> Evidence:
    """``spans``: (source key, start, end) as written; ``texts``: source key -> text (spans of unknown text are
    left out)."""
    n = differ = fit16 = fitcp = bad16 = badcp = 0
    for key, start, end in spans:
        text = texts.get(key)
        if text is None:
            continue
        n += 1
        index = utf16_index(text)
        s16, e16 = index.to_codepoint(start), index.to_codepoint(end)
        if (s16, e16) == (start, end):
            continue  # both units cut the same text: no evidence either way
        differ += 1
        ok16 = s16 is not None and e16 is not None
        okcp = 0 <= start <= end <= len(text)
        bad16 += not ok16
        badcp += not okcp
        fit16 += ok16 and on_boundary(text, s16) and on_boundary(text, e16)
        fitcp += okcp and on_boundary(text, start) and on_boundary(text, end)
    return Evidence(n, differ, int(fit16), int(fitcp), int(bad16), int(badcp))


def decide_unit(requested: UnitChoice, origin: str, evidence: Evidence, project: str) -> Unit:
    """The unit to read a project in (see the module docstring); warns when the evidence is weak or contradicts
    the writing tool."""
    if requested in UNITS:
        return requested  # type: ignore[return-value]
    if requested != "auto":
        raise ValueError(f"position_unit must be 'utf16', 'codepoint' or 'auto', not {requested!r}")
    declared = prior_unit(origin, DECLARED_ORIGINS)
    if declared is not None:
        return declared
    if evidence.differing == 0:
        return prior_unit(origin) or "codepoint"  # every span cuts the same text in both units
    prior, favoured = prior_unit(origin), evidence.favours()
    tool = f"the writing tool ({origin!r})" if origin else "the project (no origin)"
    if favoured is None:
        unit = prior or "codepoint"
        warnings.warn(f"{project}: positions read as {_name(unit)}, from {tool}, but the evidence on the text is "
                      f"weak: {evidence.describe()}; pass position_unit='utf16' or 'codepoint' to decide",
                      UserWarning, stacklevel=3)
        return unit
    if prior is not None and favoured != prior:
        warnings.warn(f"{project}: {tool} suggests {_name(prior)} but the text says {_name(favoured)} "
                      f"({evidence.describe()}); positions read as {_name(favoured)}", UserWarning, stacklevel=3)
    return favoured


def _name(unit: Unit) -> str:
    return "UTF-16 code units" if unit == "utf16" else "Unicode code points"


def to_codepoints(text: str, start: int, end: int, unit: Unit) -> tuple[int, int] | None:
    """``(start, end)`` in code points, or None when the span cannot be in ``unit``."""
    if unit == "codepoint":
        return (start, end) if 0 <= start <= end <= len(text) else None
    index = utf16_index(text)
    s, e = index.to_codepoint(start), index.to_codepoint(end)
    return (s, e) if s is not None and e is not None and s <= e else None


def from_codepoints(text: str, start: int, end: int, unit: Unit) -> tuple[int, int]:
    """``(start, end)`` given in code points, written in ``unit``."""
    if unit == "codepoint":
        return start, end
    index = utf16_index(text)
    return index.to_utf16(start), index.to_utf16(end)
