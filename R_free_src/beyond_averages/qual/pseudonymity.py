"""Pseudonymity: real names are taken out of the participants table on reading and redacted from every text.

A participants file may carry a real-name column (one of :data:`REAL_NAME_COLUMNS`). Its values never enter a
:class:`~beyond_averages.qual.model.QualData`: :func:`split_real_names` removes the column and returns the names, and
a :class:`Redactor` built from them replaces each name, and each part of a name (first name, surname), wherever it
appears in segment text, transcripts, source names or settings.

Boundary semantics: matching is case-insensitive and on whole words (``Ann`` does not match inside ``Annual``);
the full name is replaced before its parts. A full name becomes the person's pseudonym in brackets (``[P03]``); a
part of a name shared by two participants becomes ``[name]``. Redaction can only over-redact (a common word that
is also someone's first name is redacted too), which is the safe direction.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

# Column names read as "this column holds real names", compared after lower-casing and stripping.
REAL_NAME_COLUMNS = ("real_name", "name", "full_name", "participant_name", "first_name", "surname", "last_name")
SHARED_PART = "[name]"
_MIN_PART_LENGTH = 2  # single letters (initials) would redact every "a"


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

    patterns: tuple[tuple[str, str], ...] = ()   # (name, replacement), longest name first
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_names(cls, names: Mapping[str, Sequence[str]]) -> Redactor:
        full: dict[str, str] = {}
        parts: dict[str, set[str]] = {}
        for pid, values in names.items():
            for value in values:
                value = " ".join(str(value).split())
                if not value:
                    continue
                full[value.lower()] = f"[{pid}]"
                for part in re.split(r"[\s,]+", value):
                    part = part.strip(".'")
                    if len(part) >= _MIN_PART_LENGTH:
                        parts.setdefault(part.lower(), set()).add(pid)
        table = dict(full)
        for part, owners in parts.items():
            if part not in table:
                table[part] = f"[{next(iter(owners))}]" if len(owners) == 1 else SHARED_PART
        patterns = tuple(sorted(table.items(), key=lambda kv: (-len(kv[0]), kv[0])))
        regex = None
        if patterns:
            alternatives = "|".join(re.escape(name) for name, _ in patterns)
            regex = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        return cls(patterns=patterns, _regex=regex)

    @property
    def active(self) -> bool:
        return self._regex is not None

    def _replacement(self, matched: str) -> str:
        return dict(self.patterns)[matched.lower()]

    def redact(self, text):
        """The text with every name replaced; non-strings (missing values) are returned unchanged."""
        if self._regex is None or not isinstance(text, str):
            return text
        return self._regex.sub(lambda m: self._replacement(m.group(0)), text)

    def redact_with_offsets(self, text: str) -> tuple[str, Callable[..., int]]:
        """Redact ``text`` and return ``(redacted, move)``, where ``move(position, side)`` maps a code-point
        position in the original to the redacted text.

        A position strictly inside a replaced name moves to the start of its replacement when ``side`` is
        ``"start"`` and to its end when ``side`` is ``"end"``, so a coded segment that cut a name in half
        still covers the whole replacement.
        """
        if self._regex is None:
            return text, lambda position, side="start": position
        matches = list(self._regex.finditer(text))
        pieces, ends, shifts, starts_new = [], [], [], []
        last, shift = 0, 0
        for m in matches:
            replacement = self._replacement(m.group(0))
            pieces.append(text[last:m.start()])
            pieces.append(replacement)
            starts_new.append(m.start() + shift)
            shift += len(replacement) - (m.end() - m.start())
            ends.append(m.end())
            shifts.append(shift)
            last = m.end()
        pieces.append(text[last:])
        spans = [(m.start(), m.end()) for m in matches]

        def move(position: int, side: str = "start") -> int:
            k = bisect_right(ends, position)  # matches wholly at or before position
            before = shifts[k - 1] if k else 0
            if k < len(spans) and spans[k][0] < position < spans[k][1]:
                if side == "start":
                    return starts_new[k]
                return spans[k][1] + shifts[k]
            return position + before

        return "".join(pieces), move

    def names_found(self, text: str) -> list[str]:
        """The names (as written) that occur in ``text``: used by tests and by :func:`assert_pseudonymous`."""
        if self._regex is None or not isinstance(text, str):
            return []
        return [m.group(0) for m in self._regex.finditer(text)]
