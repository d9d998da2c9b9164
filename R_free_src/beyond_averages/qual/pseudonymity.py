"""Pseudonymity: real names are taken out of the participants table on reading and redacted from every text.

A participants file may carry a real-name column (one of :data:`REAL_NAME_COLUMNS`). Its values never enter a
:class:`~beyond_averages.qual.model.QualData`: :func:`split_real_names` removes the column and returns the names, and
a :class:`Redactor` built from them replaces each name, and each part of a name (first name, surname), wherever it
appears in segment text, transcripts, source names (hence transcript file names), settings, the codebook's names and
definitions (the memos of a REFI-QDA export) and the project's label.

Matching rules:

- **Folded comparison**: text and names are compared after NFKD decomposition, removal of combining marks and case
  folding (:func:`fold`), so "Zoe", "ZOË" and "zoë" all match the name "Zoë".
- **Whole tokens**: a name matches only a whole run of letters. Anything that is not a letter -- space, ``_``,
  ``-``, ``.``, an apostrophe, a digit -- separates, so ``simon_okafor_interview``, ``Okafor.notes`` and ``P01-Simon``
  are caught, while ``Ann`` does not match inside ``Annual`` nor ``Zoe`` inside ``Zoetrope``.
- **Full name first**: a full name matches with any short run of separators between its parts
  (``Simon Okafor``, ``simon_okafor``) and becomes the person's pseudonym in brackets (``[P03]``); then each part
  alone. A part shared by two participants becomes ``[name]``.
- **Short parts are not matched alone**: a part of fewer than 3 letters (an initial, "Al", "Jo") would redact real
  words ("a", "al", "jo" in other languages) and is matched only inside the full name.

Redaction can only over-redact (a common word that is also someone's first name is redacted too), which is the safe
direction.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd

# Column names read as "this column holds real names", compared after lower-casing and stripping.
REAL_NAME_COLUMNS = ("real_name", "name", "full_name", "participant_name", "first_name", "surname", "last_name")
SHARED_PART = "[name]"
MIN_PART_LETTERS = 3  # shorter parts (initials, "Al", "Jo") are matched only within the full name
_LETTERS = re.compile(r"[^\W\d_]+")        # a run of letters: digits, '_' and punctuation separate
_NOT_LETTER_BEFORE, _NOT_LETTER_AFTER = r"(?<![^\W\d_])", r"(?![^\W\d_])"
_BETWEEN_PARTS = r"[\W\d_]{1,3}"             # "Simon Okafor", "simon_okafor", "Simon - Okafor"


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", ch.casefold()) if not unicodedata.combining(c))


def fold(text: str) -> str:
    """The form names are compared in: case-folded, NFKD-decomposed, combining marks removed ('ZOË' -> 'zoe')."""
    return "".join(_fold_char(ch) for ch in text)


def split_real_names(participants: pd.DataFrame, id_column: str = "participant_id") -> tuple[pd.DataFrame, dict]:
    """Return the participants without any real-name column, and ``{participant_id: [name, ...]}``."""
    name_columns = [c for c in participants.columns if str(c).strip().lower() in REAL_NAME_COLUMNS]
    names: dict[str, list[str]] = {}
    for _, row in participants.iterrows():
        values = [str(row[c]).strip() for c in name_columns if pd.notna(row[c]) and str(row[c]).strip()]
        if values:
            names.setdefault(str(row[id_column]).strip(), []).extend(values)
    return participants.drop(columns=name_columns), names


@dataclass(frozen=True)
class Redactor:
    """Replaces the real names of participants with their pseudonyms. Build with :meth:`from_names`."""

    patterns: tuple[tuple[str, str], ...] = ()   # (folded name, replacement), longest name first
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_names(cls, names: Mapping[str, Sequence[str]]) -> Redactor:
        full: dict[str, set[str]] = {}
        parts: dict[str, set[str]] = {}
        for pid, values in names.items():
            for value in values:
                tokens = _LETTERS.findall(fold(str(value)))
                if not tokens:
                    continue
                full.setdefault(" ".join(tokens), set()).add(pid)
                for part in tokens:
                    if len(part) >= MIN_PART_LETTERS:
                        parts.setdefault(part, set()).add(pid)
        table = {name: owners for name, owners in full.items()}
        for part, owners in parts.items():
            table.setdefault(part, owners)
        replacement = {name: f"[{next(iter(owners))}]" if len(owners) == 1 else SHARED_PART
                       for name, owners in table.items()}
        patterns = tuple(sorted(replacement.items(), key=lambda kv: (-len(kv[0]), kv[0])))
        regex = None
        if patterns:
            alternatives = "|".join(f"(?P<n{k}>" + _BETWEEN_PARTS.join(map(re.escape, name.split())) + ")"
                                    for k, (name, _) in enumerate(patterns))
            regex = re.compile(f"{_NOT_LETTER_BEFORE}(?:{alternatives}){_NOT_LETTER_AFTER}")
        return cls(patterns=patterns, _regex=regex)

    @property
    def active(self) -> bool:
        return self._regex is not None

    def _matches(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, replacement)`` of every name in ``text``, as positions of ``text`` itself: the search runs
        on the folded text, whose characters are mapped back to the ones they came from."""
        folded, origin = [], []
        for i, ch in enumerate(text):
            piece = _fold_char(ch)
            folded.append(piece)
            origin.extend([i] * len(piece))
        folded_text = "".join(folded)
        out = []
        for m in self._regex.finditer(folded_text):
            start = origin[m.start()]
            # A match ends where the next folded character starts, so trailing combining marks go with the name.
            end = origin[m.end()] if m.end() < len(origin) else len(text)
            out.append((start, end, self.patterns[int(m.lastgroup[1:])][1]))
        return out

    def redact(self, text):
        """The text with every name replaced; non-strings (missing values) are returned unchanged."""
        if self._regex is None or not isinstance(text, str):
            return text
        return self.redact_with_offsets(text)[0]

    def redact_with_offsets(self, text: str) -> tuple[str, Callable[..., int]]:
        """Redact ``text`` and return ``(redacted, move)``, where ``move(position, side)`` maps a code-point
        position in the original to the redacted text.

        A position strictly inside a replaced name moves to the start of its replacement when ``side`` is
        ``"start"`` and to its end when ``side`` is ``"end"``, so a coded segment that cut a name in half
        still covers the whole replacement.
        """
        if self._regex is None:
            return text, lambda position, side="start": position
        matches = self._matches(text)
        pieces, ends, shifts, starts_new = [], [], [], []
        last, shift = 0, 0
        for start, end, replacement in matches:
            pieces.append(text[last:start])
            pieces.append(replacement)
            starts_new.append(start + shift)
            shift += len(replacement) - (end - start)
            ends.append(end)
            shifts.append(shift)
            last = end
        pieces.append(text[last:])
        spans = [(start, end) for start, end, _ in matches]

        def move(position: int, side: str = "start") -> int:
            k = bisect_right(ends, position)  # matches wholly at or before position
            before = shifts[k - 1] if k else 0
            if k < len(spans) and spans[k][0] < position < spans[k][1]:
                if side == "start":
                    return starts_new[k]
                return spans[k][1] + shifts[k]
            return position + before

        return "".join(pieces), move

    def names_found(self, text) -> list[str]:
        """The names (as written) that occur in ``text``: used by tests and by the ID checks of the importers."""
        if self._regex is None or not isinstance(text, str):
            return []
        return [text[start:end] for start, end, _ in self._matches(text)]
