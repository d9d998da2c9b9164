"""The mixed-methods synthesis: a joint display of the three strands, and the reconciliation of ITS and DiD.

The student owns the mapping (``reports/joint_display.yaml``): one row per mechanism of the programme, naming the
review studies that speak to it (a code of ``qi_approach`` or ``progress_plus``), the qualitative theme, what that
theme suggests the programme does to inequalities (``narrowing``, ``widening`` or ``none``: an interpretation, so the
student's), and the quantitative estimand (``design``, ``group`` and for ITS the ``horizon`` in months). Every cell
is then computed from the strands' outputs, and so is the verdict, by a stated rule:

* each strand gives a direction: the review the most common direction among the mapped studies that assessed
  inequalities (a tie: none); the qualitative strand what the theme suggests; the quantitative strand the
  rule-based conclusion of its estimate (:mod:`.conclusions`);
* **converge** when at least two strands give a direction and all directions agree; **conflict** when two strands
  point opposite ways; otherwise **complement** (the strands add different, not contradictory, information).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from .. import qual, review
from ..files import InputError, read_yaml_mapping
from .conclusions import NARROWED, WIDENED, conclude, disagreement
from .headline import read_headlines
from .tables import format_ci, format_count, format_signed, html_table

SUGGESTS = {"narrowing": 1, "widening": -1, "none": 0}
REVIEW_COLUMNS = ("qi_approach", "progress_plus")
VERDICTS = ("converge", "complement", "conflict")


@dataclass(frozen=True)
class Mechanism:
    mechanism: str
    review_column: str
    review_code: str
    theme: str
    suggests: str
    design: str
    group: str
    horizon: int | None


def read_joint_display(path: str | os.PathLike) -> list[Mechanism]:
    """Read and check the mapping; each problem is one :class:`InputError` naming the file and the key."""
    data = read_yaml_mapping(path, missing_hint=" (the joint display's mapping of mechanisms to the three strands)")
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{path}: key 'rows': list at least one mechanism")
    out = []
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, dict):
            raise InputError(f"{path}: key {where!r}: expected a mapping")

        def need(key: str, parent: dict = row, prefix: str = where) -> str:
            value = parent.get(key)
            if value is None or not str(value).strip():
                raise InputError(f"{path}: key '{prefix}.{key}': missing or empty")
            return str(value).strip()

        review, qual, quant = (row.get(k) or {} for k in ("review", "qualitative", "quantitative"))
        column = need("column", review, f"{where}.review")
        if column not in REVIEW_COLUMNS:
            raise InputError(f"{path}: key '{where}.review.column': {column!r} is not one of {', '.join(REVIEW_COLUMNS)}")
        suggests = need("suggests", qual, f"{where}.qualitative")
        if suggests not in SUGGESTS:
            raise InputError(f"{path}: key '{where}.qualitative.suggests': {suggests!r} is not one of "
                             f"{', '.join(SUGGESTS)}")
        design = need("design", quant, f"{where}.quantitative")
        if design not in ("ITS", "DiD"):
            raise InputError(f"{path}: key '{where}.quantitative.design': {design!r} is not ITS or DiD")
        horizon = quant.get("horizon")
        out.append(Mechanism(need("mechanism"), column, need("code", review, f"{where}.review"),
                             need("theme", qual, f"{where}.qualitative"), suggests, design,
                             need("group", quant, f"{where}.quantitative"),
                             int(horizon) if horizon is not None else None))
    return out


def _review_cell(extraction: pd.DataFrame, m: Mechanism) -> tuple[str, int]:
    hit = extraction[extraction[m.review_column].str.split(";").apply(lambda codes: m.review_code in codes)]
    assessed = hit[hit["effect_direction"] != "not_assessed"]
    counts = assessed["effect_direction"].value_counts()
    n_n, n_0, n_w = (int(counts.get(k, 0)) for k in ("narrowed", "no_change", "widened"))
    if hit.empty:
        return "No included study", 0
    text = (f"{format_count(len(hit))} {'study' if len(hit) == 1 else 'studies'}: {n_n} narrowed, {n_0} no change, "
            f"{n_w} widened")
    if len(assessed) < len(hit):
        text += f" ({len(hit) - len(assessed)} not assessed)"
    top = max(n_n, n_0, n_w)
    winners = [d for d, n in (("narrowed", n_n), ("no change", n_0), ("widened", n_w)) if n == top and n]
    direction = {"narrowed": 1, "widened": -1}.get(winners[0], 0) if len(winners) == 1 else 0
    return text, direction


def _qual_cell(themes: pd.DataFrame, m: Mechanism, path: str) -> str:
    row = themes[(themes["level"] == "theme") & (themes["theme"] == m.theme)]
    if row.empty:
        raise InputError(f"{path}: qualitative theme {m.theme!r} is not a theme of the codebook; themes: "
                         f"{', '.join(themes.loc[themes['level'] == 'theme', 'theme'])}")
    r = row.iloc[0]
    suggests = {"narrowing": "suggests narrowing", "widening": "suggests widening", "none": "no direction"}
    return (f"{format_count(r['n_participants'])} participants, {format_count(r['n_segments'])} passages; "
            f"{suggests[m.suggests]}")


def _quant_row(headline: pd.DataFrame, m: Mechanism, path: str) -> pd.Series:
    rows = headline[(headline["design"] == m.design) & (headline["group"] == m.group)]
    if m.horizon is not None:
        rows = rows[rows["horizon"].str.startswith(f"{m.horizon} months")]
    elif m.design == "ITS" and len(rows) > 1:
        rows = rows[rows["primary"]] if rows["primary"].any() else rows.tail(1)
    if len(rows) != 1:
        raise InputError(f"{path}: quantitative estimand {m.design} {m.group!r}"
                         f"{'' if m.horizon is None else f' at {m.horizon} months'} matches {len(rows)} headline rows")
    return rows.iloc[0]


def joint_display(mapping: list[Mechanism], extraction: pd.DataFrame, themes: pd.DataFrame,
                  headline: pd.DataFrame, source: str = "joint display") -> pd.DataFrame:
    """One row per mechanism: the three strands' cells, their directions and the verdict (rule in the module
    docstring). ``themes`` is the qualitative theme summary; ``headline`` the ITS and DiD headline rows."""
    concluded = conclude(headline, source="headline results")
    rows = []
    for m in mapping:
        review_text, review_dir = _review_cell(extraction, m)
        q = _quant_row(concluded, m, source)
        quant_dir = {NARROWED: 1, WIDENED: -1}.get(q["conclusion"], 0)
        directions = [d for d in (review_dir, SUGGESTS[m.suggests], quant_dir) if d]
        verdict = ("conflict" if len(set(directions)) > 1 else "converge" if len(directions) >= 2 else "complement")
        rows.append({"mechanism": m.mechanism, "review": review_text, "qualitative": _qual_cell(themes, m, source),
                     "quantitative": (f"{q['estimand']}: {format_signed(q['estimate'])} pp "
                                      f"({format_ci(q['ci_lower'], q['ci_upper'], signed=True)}); {q['conclusion']}"),
                     "review_direction": review_dir, "qualitative_direction": SUGGESTS[m.suggests],
                     "quantitative_direction": quant_dir, "verdict": verdict})
    return pd.DataFrame(rows)


DISPLAY = {"mechanism": "Mechanism", "review": "Literature review", "qualitative": "Qualitative study",
           "quantitative": "Quantitative evaluation", "verdict": "The strands"}


def joint_display_table(display: pd.DataFrame):
    return html_table(display[list(DISPLAY)].rename(columns=DISPLAY))


def joint_display_sentence(display: pd.DataFrame) -> str:
    counts = display["verdict"].value_counts()
    parts = [f"{counts.get(v, 0)} {'mechanism' if counts.get(v, 0) == 1 else 'mechanisms'} where they {v}"
             for v in VERDICTS]
    conflicts = display.loc[display["verdict"] == "conflict", "mechanism"].tolist()
    quoted = [f"\u201c{m}\u201d" for m in conflicts]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
    tail = (f" They conflict on {listed}: there the evidence of one strand does not carry over to another."
            if conflicts else " No mechanism finds the strands in conflict.")
    return (f"Across {format_count(len(display))} mechanisms, the three strands give " + ", ".join(parts[:-1])
            + f" and {parts[-1]}." + tail)


def reconciliation(headline: pd.DataFrame) -> str:
    """What the ITS and DiD primary estimands are, what each concludes, and whether they agree."""
    rows = conclude(headline[headline["primary"]], source="headline results")
    if set(rows["design"]) != {"ITS", "DiD"}:
        raise ValueError("reconciliation needs one primary row per design (ITS and DiD)")
    its, did = (rows[rows["design"] == d].iloc[0] for d in ("ITS", "DiD"))
    text = (f"The two designs answer related but different questions. The interrupted time series estimates, for the "
            f"practices of one adoption wave against practices that never adopted, how the gap in the programme's "
            f"effect between the most and least deprived quintiles stood {its['horizon']} "
            f"({format_signed(its['estimate'])} pp, 95% CI {format_ci(its['ci_lower'], its['ci_upper'], signed=True)}: "
            f"{its['conclusion']}). The difference-in-differences analysis estimates the same contrast for every "
            f"adopting practice, as the {did['horizon']} ({format_signed(did['estimate'])} pp, 95% CI "
            f"{format_ci(did['ci_lower'], did['ci_upper'], signed=True)}: {did['conclusion']}). The time series can "
            "show how an effect builds up month by month but rests on one wave and on the comparison series "
            "following the same path; the difference-in-differences uses every adopter but averages over horizons "
            "and rests on parallel trends between adopters and never-adopters.")
    both = rows.assign(estimand=["interrupted time series", "difference-in-differences"])
    said = disagreement(both, "interrupted time series", "difference-in-differences",
                        "the programme's effect on the between-quintile inequality")
    return text + (" " + said if said else f" Both conclude \"{its['conclusion']}\".")


@dataclass(frozen=True)
class SynthesisAnalysis:
    """The synthesis chapter's results: the joint display and the headline rows of both designs."""

    display: pd.DataFrame
    headline: pd.DataFrame


def run_synthesis(area: str, results_dir, mapping: str | os.PathLike, screening_log, extraction, references,
                  qualitative_data) -> SynthesisAnalysis:
    """The chapter's one call: read the headline tables the ITS and DiD chapters left, the review's extraction and
    the qualitative themes, and compute the joint display from the student's mapping."""
    from .. import paths

    headline = read_headlines(area, results_dir)
    studies = review.load_review(screening_log, extraction, references).extraction
    themes = qual.run_qualitative_analysis(qualitative_data).theme_summary
    mapping_path = paths.resolve(mapping)
    display = joint_display(read_joint_display(mapping_path), studies, themes, headline, source=str(mapping))
    return SynthesisAnalysis(display, headline)
