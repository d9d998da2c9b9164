"""The DiD chapter's sensitivity table, the sentence that says whether its conclusions hold, and the sentence that
flags, by rule, the headline estimates that depend on parallel trends.

Rows come from :func:`beyond_averages.did.sensitivity.did_sensitivity`; each is concluded by the one rule of
:mod:`.conclusions`, oriented like the chapter's headline rows (the Q1 - Q5 difference narrows when positive if the
most deprived start lower; the within-practice gap and SII, least minus most deprived, narrow when they fall).

The parallel-trends rule (:func:`parallel_trends_flags`), applied to every headline estimand the same way: an
estimand is flagged when

* an analysis that changes the identifying assumption (the other comparison group, baseline covariates, excluding
  the COVID-19 period: ``probes_parallel_trends``) puts its estimate outside the main analysis's 95% CI, or
* the main CI excludes 0 (and so does HonestDiD's interval for the same target under exact parallel trends) but
  the HonestDiD robust set at Mbar = 1 includes 0 (the breakdown Mbar is below 1): a post-adoption departure from
  parallel trends no larger than the largest pre-adoption one would be enough to overturn the conclusion, or
* adopters started apart from the comparison units: the standardised difference of their baseline levels is at
  least :data:`BALANCE_SMD` (0.2) in size (``baseline_smd``). Practices chose to adopt; groups that start apart
  need not trend alike, and the main estimate then rests on parallel trends between unlike groups. (The adjusted
  estimate is in the table, but not made the main one: conditioning on levels measured with noise biases it by
  regression to the mean when adopters were selected on their level; docs/did.md.)

Scale changes (log-odds), the estimator (TWFE) and the sparse-quintile rules are not part of the rule: they do not
change the comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import labels
from ..did.sensitivity import COVARIATES, HONEST, MAIN, did_sensitivity
from .conclusions import conclude
from .tables import format_ci, format_estimate_ci, format_pp, format_ratio, format_signed, html_table

SEP = " | "   # analysis | estimand, the key conclude() reads
BALANCE_SMD = 0.2   # a fifth of a standard deviation: adopters and comparison units "started apart" at or beyond it


def estimand_name(estimand: str) -> str:
    """How a sentence names a headline estimand (``Q1``, ``Q1 - Q5``, ``gap``, ``sii``)."""
    if estimand in ("gap", "sii"):
        label = labels.WITHIN_PRACTICE_MEASURES[estimand]
        return f"the change in the within-practice {label[:1].lower() + label[1:]}"
    if " - " in estimand:
        a, b = estimand.split(" - ")
        return f"the difference in effect, {a} minus {b}"
    return f"the effect in {labels.QUINTILES[int(estimand[1:])]}"


def sensitivity_rows(analysis, headline: pd.DataFrame, covid_start=None) -> pd.DataFrame:
    """The sensitivity analyses with their conclusions (``narrowing`` taken from the chapter's headline rows by
    estimand: ``group`` of the headline)."""
    rows = did_sensitivity(analysis, covid_start)
    orient = dict(zip(headline["group"], headline["narrowing"].astype(int)))
    rows = rows.assign(narrowing=rows["estimand"].map(orient).fillna(0).astype(int))
    return conclude(rows.assign(estimand=rows["analysis"] + SEP + rows["estimand"]), source="sensitivity rows")


def _split(rows: pd.DataFrame) -> pd.DataFrame:
    parts = rows["estimand"].str.split(SEP, n=1, expand=True, regex=False)
    return rows.assign(analysis=parts[0], target=parts[1])


def parallel_trends_flags(rows: pd.DataFrame) -> pd.DataFrame:
    """Per headline estimand (``group``, in the table's order): ``flagged``, ``moved_by`` (the analyses whose
    estimate left the main CI: ``(analysis, estimate, "up" | "down")``), ``honest_breaks`` (the rule's second
    clause), the HonestDiD set at Mbar = 1 (``honest_lower, honest_upper``) and ``breakdown`` (primary estimand
    only), with the main row's ``estimate, ci_lower, ci_upper``."""
    r = _split(rows)
    out = []
    for target, m in r[r["analysis"] == MAIN].set_index("target").iterrows():
        own = r[r["target"] == target]
        probes = own[own["probes_parallel_trends"].astype(bool) & own["estimate"].notna()]
        moved = [(a, float(e), "up" if e > m["ci_upper"] else "down")
                 for a, e in zip(probes["analysis"], probes["estimate"]) if e > m["ci_upper"] or e < m["ci_lower"]]
        honest = own[own["analysis"] == HONEST]
        h = honest.iloc[0] if len(honest) else pd.Series(np.nan, index=own.columns)
        breaks = bool(len(honest)) and _excludes_zero(m["ci_lower"], m["ci_upper"]) and _excludes_zero(
            h["pt_ci_lower"], h["pt_ci_upper"]) and not _excludes_zero(h["ci_lower"], h["ci_upper"])
        smd = float(m["baseline_smd"]) if "baseline_smd" in m and pd.notna(m["baseline_smd"]) else np.nan
        apart = bool(np.isfinite(smd) and abs(smd) >= BALANCE_SMD)
        out.append({"group": target, "flagged": bool(moved) or breaks or apart, "moved_by": moved,
                    "honest_breaks": breaks, "started_apart": apart, "baseline_smd": smd,
                    "honest_lower": h["ci_lower"], "honest_upper": h["ci_upper"], "breakdown": h["breakdown"],
                    "estimate": m["estimate"], "ci_lower": m["ci_lower"], "ci_upper": m["ci_upper"]})
    return pd.DataFrame(out)


def _excludes_zero(lower, upper) -> bool:
    return bool(lower > 0 or upper < 0)


def _under(analysis: str) -> str:
    """'with baseline covariates,', 'without baseline covariates,', 'with the not-yet-treated comparison group,',
    'excluding the COVID-19 period,'."""
    if analysis.startswith(("excluding", "without")):
        return f"{analysis},"
    return f"with the {analysis}," if "comparison" in analysis else f"with {analysis},"


def _named(target: str, estimate: float) -> str:
    return f"{estimand_name(target)} ({format_pp(estimate)})"


def _listed(items: list[str], conjunction: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def parallel_trends_sentence(rows: pd.DataFrame) -> str:
    """What the parallel-trends rule finds, in words: one sentence per estimand that an analysis moved outside its
    CI, one for the estimands whose conclusion HonestDiD overturns at Mbar = 1, or one saying that none is flagged
    (and that this does not prove parallel trends). The comparison group is named from the rows."""
    flags = parallel_trends_flags(rows)
    comparison = ("never-adopters" if _split(rows)["analysis"].str.startswith("not-yet-treated").any()
                  else "practices that had not yet adopted")
    said = []
    for f in flags[flags["moved_by"].map(bool)].itertuples():
        ci = format_ci(f.ci_lower, f.ci_upper)
        moves = [f"{_under(a)} it moves {d} to {format_pp(e)}" for a, e, d in f.moved_by]
        said.append(f"{_capital(_named(f.group, f.estimate))} depends on parallel trends between adopters and "
                    f"{comparison}: {'; '.join(moves)}, outside the main analysis's 95% CI ({ci}).")
    apart = flags[flags["started_apart"]]
    if len(apart):
        adjusted = _split(rows)
        adjusted = adjusted[adjusted["analysis"] == COVARIATES].set_index("target")
        named = [f"{estimand_name(f.group)}, by {format_signed(f.baseline_smd)} standard deviations"
                 for f in apart.itertuples()]
        one = len(apart) == 1
        text = (f"Adopters' baseline level differed from that of the {comparison} for {'; '.join(named)}: "
                f"{'this estimate rests' if one else 'these estimates rest'} on parallel trends between practices "
                "that started at different levels")
        shown = [f.group for f in apart.itertuples() if f.group in adjusted.index
                 and pd.notna(adjusted.loc[f.group, "estimate"])]
        numbers = {g: f"{format_pp(adjusted.loc[g, 'estimate'])} (95% CI "
                      f"{format_ci(adjusted.loc[g, 'ci_lower'], adjusted.loc[g, 'ci_upper'])})" for g in shown}
        if one and shown:
            text += f"; with baseline covariates (conditional parallel trends) it is {numbers[shown[0]]}"
        elif shown:
            text += ("; with baseline covariates (conditional parallel trends) "
                     + _listed([f"{estimand_name(g)} is {numbers[g]}" for g in shown]))
        said.append(text + ".")
    broken = flags[flags["honest_breaks"]]
    if len(broken):
        sets = [format_ci(f.honest_lower, f.honest_upper)
                + (f", breakdown M\u0304 {format_ratio(f.breakdown)}"
                   if np.isfinite(f.breakdown) else "") for f in broken.itertuples()]
        verb, leaves = (("depends", "an interval that includes") if len(broken) == 1
                        else ("depend", "intervals that include"))
        said.append(f"{_capital(_listed([_named(f.group, f.estimate) for f in broken.itertuples()]))} {verb} on "
                    f"parallel trends between adopters and {comparison} holding more closely than they did before "
                    "adoption: a departure after adoption no larger than the largest before it (HonestDiD, "
                    f"M\u0304 = 1) leaves {leaves} 0 "
                    f"({'; '.join(sets)}).")
    if said:
        return " ".join(said)
    text = "No analysis that changes the comparison moves a headline estimate outside its 95% CI"
    if any(_excludes_zero(lo, hi) for lo, hi in zip(flags["ci_lower"], flags["ci_upper"])):
        text += (", and every conclusion that excludes 0 survives a departure from parallel trends after adoption as "
                 "large as the largest before it (HonestDiD, M\u0304 = 1)")
    return text + "; this does not prove parallel trends."


def sensitivity_table(rows: pd.DataFrame):
    """One row per headline estimand, one column per analysis (estimate and 95% CI; the HonestDiD column shows the
    robust set), and whether the parallel-trends rule flags the estimand."""
    r = _split(rows)
    analyses = list(dict.fromkeys(r["analysis"]))
    targets = list(dict.fromkeys(r["target"]))
    cell = {(a, t): (format_ci(x.ci_lower, x.ci_upper) if a == HONEST else
                     format_estimate_ci(x.estimate, x.ci_lower, x.ci_upper))
            + (f" [{int(x.practices)} practices]" if t in ("gap", "sii") and a != HONEST else "")
            for a, t, x in zip(r["analysis"], r["target"], r.itertuples())}
    flags = parallel_trends_flags(rows).set_index("group")["flagged"]
    shown = pd.DataFrame({"Estimand": [estimand_name(t)[:1].upper() + estimand_name(t)[1:] for t in targets],
                          **{_header(a): [cell.get((a, t), "\u2013") for t in targets] for a in analyses},
                          "Depends on parallel trends": ["yes" if flags.get(t, False) else "no" for t in targets]})
    return html_table(shown)


def _header(analysis: str) -> str:
    return _capital(_display(analysis))


def _display(analysis: str) -> str:
    return analysis.replace("Mbar", "M\u0304")


def sensitivity_sentence(rows: pd.DataFrame) -> str:
    """Whether each headline estimand's conclusion (by the chapter's rule) holds across the sensitivity analyses."""
    r = _split(rows)
    parts = []
    for target in dict.fromkeys(r["target"]):
        sub = r[r["target"] == target]
        main = sub["conclusion"].iloc[0]
        differ = [a for a, c in zip(sub["analysis"], sub["conclusion"]) if c != main]
        text = (f"for {estimand_name(target)} the main conclusion (\u201c{main}\u201d) holds in "
                f"{len(sub) - len(differ)} of {len(sub)} analyses")
        if differ:
            named = [("" if a.startswith("HonestDiD") else "the ") + _display(a) for a in differ]
            text += f" (not with {_listed(named, 'or')})"
        parts.append(text)
    sentence = "; ".join(parts)
    return sentence[:1].upper() + sentence[1:] + "."
