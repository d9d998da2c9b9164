"""The search and screening log: the counts behind a PRISMA 2020 flow diagram, checked to add up.

The log is a tidy CSV with columns ``step,detail,n`` (one row per box entry; ``detail`` names the source or the
exclusion reason). Steps, by PRISMA 2020 box:

- previous version of the review (optional): ``previous_studies``, ``previous_reports``;
- identification via databases and registers: ``identified_database`` and ``identified_register`` (one row per
  database or register, ``detail`` = its name), then ``duplicates_removed``, ``automation_removed``,
  ``other_removed`` (records removed before screening);
- screening: ``records_screened``, ``records_excluded``, ``reports_sought``, ``reports_not_retrieved``,
  ``reports_assessed``, ``reports_excluded`` (one row per reason, ``detail`` = the reason);
- identification via other methods (optional): ``identified_website``, ``identified_organisation``,
  ``identified_citation``, then ``other_reports_sought``, ``other_reports_not_retrieved``, ``other_reports_assessed``,
  ``other_reports_excluded`` (one row per reason);
- included: ``new_studies``, ``new_reports`` (optional), ``total_studies`` and ``total_reports`` (optional; they
  default to previous + new).

Arithmetic checked on construction (each failure names the box that does not follow, its row and the column ``n``):
identified via databases/registers - removed before screening = screened; screened - excluded = sought;
sought - not retrieved = assessed (in both branches); reports excluded <= assessed; the reports left after full-text
assessment in both branches = reports of new included studies (when given; otherwise new studies may not exceed
them); new studies <= their reports; reports sought via other methods <= records identified via other methods;
totals = previous + new. Row numbers are spreadsheet rows: the header is row 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from ..files import InputError
from ..text_input import read_table

SourceKind = Literal["database", "register", "website", "organisation", "citation"]
SOURCE_KINDS: tuple[str, ...] = ("database", "register", "website", "organisation", "citation")
MAIN_KINDS = ("database", "register")
OTHER_KINDS = ("website", "organisation", "citation")

SCALAR_STEPS: tuple[str, ...] = (
    "previous_studies", "previous_reports",
    "duplicates_removed", "automation_removed", "other_removed",
    "records_screened", "records_excluded", "reports_sought", "reports_not_retrieved", "reports_assessed",
    "other_reports_sought", "other_reports_not_retrieved", "other_reports_assessed",
    "new_studies", "new_reports", "total_studies", "total_reports",
)
REASON_STEPS: tuple[str, ...] = ("reports_excluded", "other_reports_excluded")
SOURCE_STEPS: dict[str, str] = {f"identified_{kind}": kind for kind in SOURCE_KINDS}
STEPS: tuple[str, ...] = tuple(SOURCE_STEPS) + SCALAR_STEPS + REASON_STEPS
REQUIRED_STEPS: tuple[str, ...] = (
    "records_screened", "records_excluded", "reports_sought", "reports_not_retrieved", "reports_assessed",
    "new_studies",
)
# Steps that default to 0 when absent; the others (previous_reports, new_reports, totals) default to "not reported".
ZERO_DEFAULT = (
    "previous_studies", "duplicates_removed", "automation_removed", "other_removed",
    "other_reports_sought", "other_reports_not_retrieved", "other_reports_assessed",
)

BOX_NAMES: dict[str, str] = {
    "previous_studies": "Studies included in previous version of review",
    "previous_reports": "Reports of studies included in previous version of review",
    "identified_database": "Records identified from databases",
    "identified_register": "Records identified from registers",
    "identified_website": "Records identified from websites",
    "identified_organisation": "Records identified from organisations",
    "identified_citation": "Records identified from citation searching",
    "duplicates_removed": "Duplicate records removed",
    "automation_removed": "Records marked as ineligible by automation tools",
    "other_removed": "Records removed for other reasons",
    "records_screened": "Records screened",
    "records_excluded": "Records excluded",
    "reports_sought": "Reports sought for retrieval (databases and registers)",
    "reports_not_retrieved": "Reports not retrieved (databases and registers)",
    "reports_assessed": "Reports assessed for eligibility (databases and registers)",
    "reports_excluded": "Reports excluded (databases and registers)",
    "other_reports_sought": "Reports sought for retrieval (other methods)",
    "other_reports_not_retrieved": "Reports not retrieved (other methods)",
    "other_reports_assessed": "Reports assessed for eligibility (other methods)",
    "other_reports_excluded": "Reports excluded (other methods)",
    "new_studies": "New studies included in review",
    "new_reports": "Reports of new included studies",
    "total_studies": "Total studies included in review",
    "total_reports": "Reports of total included studies",
}


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    name: str
    n: int


@dataclass(frozen=True)
class Reason:
    reason: str
    n: int


@dataclass(frozen=True)
class ScreeningLog:
    """Validated PRISMA 2020 counts. Build with :meth:`from_rows` or :func:`read_screening_log`.

    ``counts`` maps each scalar step to its count (``None`` = not reported); ``where`` maps each step to a short
    "row R (...), column 'n'" locator used in error messages.
    """

    source: str
    sources: tuple[Source, ...]
    counts: dict[str, int | None]
    reasons: dict[str, tuple[Reason, ...]]
    where: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        problems = _arithmetic_problems(self)
        if problems:
            raise InputError(f"{self.source}: the counts do not add up:\n  - " + "\n  - ".join(problems))

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: pd.DataFrame, source: str, where: dict[str, str] | None = None) -> ScreeningLog:
        """Build from tidy rows ``step, detail, n`` (``n`` already integers); ``row`` column optional."""
        where = dict(where or {})
        rows = rows.reset_index(drop=True)
        row_numbers = rows["row"].tolist() if "row" in rows else [i + 2 for i in range(len(rows))]
        labels = rows["label"].tolist() if "label" in rows else [f"step '{s}'" for s in rows["step"]]
        sources: list[Source] = []
        counts: dict[str, int | None] = {}
        reasons: dict[str, list[Reason]] = {s: [] for s in REASON_STEPS}
        for row, label, step, detail, n in zip(row_numbers, labels, rows["step"], rows["detail"], rows["n"]):
            locator = f"row {row}, {label}, column 'n'"
            if step in SOURCE_STEPS:
                sources.append(Source(SOURCE_STEPS[step], detail or BOX_NAMES[step].split(" from ")[-1].capitalize(),
                                      int(n)))
                where.setdefault(step, locator)
            elif step in REASON_STEPS:
                if not detail:
                    raise InputError(f"{source}: row {row}, column 'detail': step '{step}' needs the exclusion "
                                     "reason in 'detail' (one row per reason)")
                reasons[step].append(Reason(detail, int(n)))
                where.setdefault(step, locator)
            else:
                if step in counts:
                    raise InputError(f"{source}: row {row}, column 'step': '{step}' appears twice "
                                     f"(first at {where[step].split(',')[0]}); give each count once")
                counts[step] = int(n)
                where[step] = locator
        missing = [s for s in REQUIRED_STEPS if s not in counts]
        if missing:
            raise InputError(f"{source}: column 'step': missing required step(s) {', '.join(missing)}")
        for step in ZERO_DEFAULT:
            counts.setdefault(step, 0)
        for step in ("previous_reports", "new_reports", "total_studies", "total_reports"):
            counts.setdefault(step, None)
        if not any(s.n > 0 for s in sources) and not counts["previous_studies"]:
            id_rows = sorted({r for r, s in zip(row_numbers, rows["step"]) if s in SOURCE_STEPS})
            at_rows = f" (rows {', '.join(map(str, id_rows))})" if id_rows else ""
            raise InputError(
                f"{source}: column 'n': no record was identified in any source{at_rows}: every identification "
                "count is 0 or absent — fill in the counts; an unfilled template cannot be drawn"
            )
        return cls(source, tuple(sources), counts, {k: tuple(v) for k, v in reasons.items()}, where)

    # -- derived counts ------------------------------------------------------------------------------------------
    def identified(self, kinds: tuple[str, ...] | str) -> int:
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        return sum(s.n for s in self.sources if s.kind in kinds)

    def excluded(self, step: str) -> int:
        return sum(r.n for r in self.reasons[step])

    @property
    def has_previous(self) -> bool:
        return bool(self.counts["previous_studies"]) or bool(self.counts["previous_reports"])

    @property
    def has_other_methods(self) -> bool:
        return self.identified(OTHER_KINDS) > 0 or bool(self.counts["other_reports_sought"])

    @property
    def total_studies(self) -> int:
        given = self.counts["total_studies"]
        return given if given is not None else self.counts["previous_studies"] + self.counts["new_studies"]

    @property
    def total_reports(self) -> int | None:
        given = self.counts["total_reports"]
        if given is not None:
            return given
        if self.counts["new_reports"] is None:
            return None
        return (self.counts["previous_reports"] or 0) + self.counts["new_reports"]

    def summary(self) -> pd.DataFrame:
        """One row per box entry: ``step``, ``detail``, ``n`` (sources and reasons expanded)."""
        out = [{"step": f"identified_{s.kind}", "detail": s.name, "n": s.n} for s in self.sources]
        out += [{"step": k, "detail": "", "n": v} for k, v in self.counts.items() if v is not None]
        out += [{"step": k, "detail": r.reason, "n": r.n} for k in REASON_STEPS for r in self.reasons[k]]
        order = {s: i for i, s in enumerate(STEPS)}
        frame = pd.DataFrame(out, columns=["step", "detail", "n"])
        frame = frame.assign(_o=frame["step"].map(order)).sort_values("_o", kind="stable").drop(columns="_o")
        return frame.reset_index(drop=True).astype({"n": "int64"})


def _arithmetic_problems(log: ScreeningLog) -> list[str]:
    c, w = log.counts, log.where
    problems: list[str] = []

    def at(step: str) -> str:
        return w.get(step, "not given")

    def expect(step: str, expected: int, how: str) -> None:
        if c[step] != expected:
            problems.append(f"box '{BOX_NAMES[step]}' is {c[step]:,} ({at(step)}), but {how} = {expected:,}")

    for step, value in list(c.items()) + [(k, r.n) for k, rs in log.reasons.items() for r in rs]:
        if value is not None and value < 0:
            problems.append(f"box '{BOX_NAMES[step]}' ({at(step)}) is negative ({value})")
    if problems:
        return problems
    main = log.identified(MAIN_KINDS)
    removed = c["duplicates_removed"] + c["automation_removed"] + c["other_removed"]
    expect("records_screened", main - removed,
           f"records identified from databases and registers {main:,} - records removed before screening {removed:,}")
    expect("reports_sought", c["records_screened"] - c["records_excluded"],
           f"records screened {c['records_screened']:,} - records excluded {c['records_excluded']:,}")
    expect("reports_assessed", c["reports_sought"] - c["reports_not_retrieved"],
           f"reports sought {c['reports_sought']:,} - reports not retrieved {c['reports_not_retrieved']:,}")
    expect("other_reports_assessed", c["other_reports_sought"] - c["other_reports_not_retrieved"],
           f"reports sought via other methods {c['other_reports_sought']:,} - not retrieved "
           f"{c['other_reports_not_retrieved']:,}")
    other_identified = log.identified(OTHER_KINDS)
    if c["other_reports_sought"] > other_identified:
        problems.append(f"box '{BOX_NAMES['other_reports_sought']}' ({at('other_reports_sought')}) is "
                        f"{c['other_reports_sought']:,}, more than the {other_identified:,} records identified via "
                        "other methods")
    left = 0
    for assessed, excluded in (("reports_assessed", "reports_excluded"),
                               ("other_reports_assessed", "other_reports_excluded")):
        n_excl = log.excluded(excluded)
        if n_excl > c[assessed]:
            problems.append(f"box '{BOX_NAMES[excluded]}' ({at(excluded)}) sums to {n_excl:,}, more than the "
                            f"{c[assessed]:,} reports assessed")
        left += c[assessed] - n_excl
    how = (f"reports assessed {c['reports_assessed']:,} - excluded {log.excluded('reports_excluded'):,}"
           + (f" + other-methods reports assessed {c['other_reports_assessed']:,} - excluded "
              f"{log.excluded('other_reports_excluded'):,}" if log.has_other_methods else ""))
    if c["new_reports"] is not None:
        expect("new_reports", left, how)
        if c["new_studies"] > c["new_reports"]:
            problems.append(f"box '{BOX_NAMES['new_studies']}' ({at('new_studies')}) is {c['new_studies']:,}, "
                            f"more than its {c['new_reports']:,} reports")
    elif c["new_studies"] > left:
        problems.append(f"box '{BOX_NAMES['new_studies']}' ({at('new_studies')}) is {c['new_studies']:,}, more "
                        f"than the reports left after full-text assessment: {how} = {left:,}")
    if c["total_studies"] is not None:
        expect("total_studies", c["previous_studies"] + c["new_studies"],
               f"previous studies {c['previous_studies']:,} + new studies {c['new_studies']:,}")
    if c["total_reports"] is not None and c["new_reports"] is not None:
        prev = c["previous_reports"] or 0
        expect("total_reports", prev + c["new_reports"],
               f"previous reports {prev:,} + new reports {c['new_reports']:,}")
    return problems


# -- the native CSV ------------------------------------------------------------------------------------------------
def parse_count(value, source: str, locator: str) -> int:
    """A non-negative whole number from a cell (``1,234`` and ``12.0`` accepted), else :class:`InputError`."""
    text = str(value).strip().replace(",", "").replace("\u00a0", "").replace(" ", "")
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not text or number != number or number != int(number) or number < 0:
        raise InputError(f"{source}: {locator}: {str(value)!r} is not a count (a whole number >= 0)")
    return int(number)


def read_screening_log(path: str | os.PathLike) -> ScreeningLog:
    """Read the native ``step,detail,n`` CSV (UTF-8, BOM tolerated, comma or semicolon delimited)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    frame = read_table(path)
    missing = [c for c in ("step", "n") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found "
                         f"{', '.join(map(repr, frame.columns))} (expected step, detail, n)")
    if "detail" not in frame.columns:
        frame["detail"] = ""
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        row = i + 2
        step = str(rec["step"]).strip()
        if step not in STEPS:
            raise InputError(f"{path}: row {row}, column 'step': unknown step {step!r}; allowed: {', '.join(STEPS)}")
        n = parse_count(rec["n"], str(path), f"row {row} (step '{step}'), column 'n'")
        rows.append({"row": row, "step": step, "detail": str(rec["detail"]).strip(), "n": n})
    return ScreeningLog.from_rows(pd.DataFrame(rows, columns=["row", "step", "detail", "n"]), str(path))
