"""The recovery study's appendix (issue #13): does the design recover the planted truth?

Reads the headline summary that ``bench/recovery_study.py`` writes (``bench/recorded/recovery_study_summary.csv``:
one row per scale, scenario and headline estimand, see that script's ``recorded_summary``) and turns it into the
appendix's table and sentences. Every sentence is judged against the targets of issue #13 by rule:

* 95% CI coverage of the truth within :data:`COVERAGE_BAND` (93% to 97%) for every headline estimand;
* in the null scenario, "no evidence of change" rejected in :data:`REJECTION_BAND` (3% to 7%) of seeds;
* in the narrowing and widening scenarios at full scale (:data:`FULL_SCALE`), the inequality estimands (those with a
  narrowing side: Q1 minus Q5, the within-practice gap and SII) concluding the planted direction in at least
  :data:`CORRECT_MIN` (80%) of seeds, and how that share moves over the study's scales.

Each judgement carries its Monte Carlo error: a row outside a band is said to be within or beyond :data:`MC_SES`
Monte Carlo SEs of the nominal share, and each scale states how many rows exactly nominal intervals would put
outside the band by chance alone (:func:`chance_outside`), the number the count outside is to be read against.

A scale of the study that the file does not hold yet is said to be "not yet run"; a file that does not exist (a fork
that has not run ``make bench``) gives a sentence saying how to write it, and no table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .. import labels, paths
from ..files import InputError, require_columns
from ..recovery import ITS_HORIZONS, SCENARIOS
from .tables import format_percent, format_pp, format_signed, html_table, join_words

COVERAGE_BAND = (0.93, 0.97)
NOMINAL = 0.95
REJECTION_BAND = (0.03, 0.07)
CORRECT_MIN = 0.80
FULL_SCALE = 1.0
STUDY_SCALES = (0.1, 0.3, 1.0)
DIRECTION_SCENARIOS = ("narrowing", "widening")
MAX_NAMED = 15  # a sentence names at most this many estimands; the table has them all
MC_SES = 2  # a difference larger than this many Monte Carlo SEs is more than simulation noise
COLUMNS = ["scale", "scenario", "method", "target", "horizon", "planted", "narrowing", "seeds", "truth", "bias",
           "coverage", "coverage_mc_se", "correct", "correct_mc_se", "rejection_rate"]
DESIGN_SHORT = {"group_time_att": "DiD", "its_stacked": "ITS"}
SCENARIO_LABELS = {
    "null": ("Null", "no effect in any quintile"),
    "uniform": ("Uniform", "the same effect in every quintile"),
    "narrowing": ("Narrowing", "larger effects in the more deprived quintiles"),
    "widening": ("Widening", "larger effects in the less deprived quintiles"),
    "selection": ("Selection", "narrowing's effects, with practices of a higher baseline level more likely to adopt"),
}
COMMAND = "make bench"


@dataclass(frozen=True)
class RecoveryResults:
    """The recovery summary (``None`` when its file does not exist) and the scales the study plans."""

    path: Path
    summary: pd.DataFrame | None
    scales: tuple[float, ...] = STUDY_SCALES

    @property
    def available(self) -> bool:
        return self.summary is not None and not self.summary.empty


def load_recovery_summary(path, scales=STUDY_SCALES) -> RecoveryResults:
    """The summary CSV at ``path`` (relative paths from the repository root); absent file: ``summary=None``."""
    path = paths.resolve(path)
    scales = tuple(float(s) for s in scales)
    if not path.exists():
        return RecoveryResults(path, None, scales)
    # Only an empty field is missing: the scenario "null" must stay a name (pandas reads "null" as NaN by default).
    frame = pd.read_csv(path, dtype={"target": str, "scenario": str, "method": str}, keep_default_na=False,
                        na_values=[""])
    require_columns(frame, COLUMNS, str(path))
    unknown = sorted(set(frame["method"]) - set(DESIGN_SHORT))
    if unknown:
        raise InputError(f"{path}: column 'method' holds {unknown}; the headline methods are {list(DESIGN_SHORT)}")
    bad = frame[~frame["coverage"].between(0, 1) | ~frame["correct"].between(0, 1)]
    if len(bad):
        raise InputError(f"{path}: columns 'coverage' and 'correct' must be shares in [0, 1]; rows "
                         f"{list(bad.index[:3])} are not")
    frame["scale"] = frame["scale"].astype(float)
    return RecoveryResults(path, frame, scales)


# -- names --------------------------------------------------------------------------------------------------------
def _target_label(target: str) -> str:
    if target in labels.WITHIN_PRACTICE_MEASURES:
        label = labels.WITHIN_PRACTICE_MEASURES[target]
        return f"within-practice {label[:1].lower() + label[1:]}"
    if "-" in target:
        return labels.CONTRAST
    return labels.QUINTILES[int(target)]


def estimand_label(method: str, target: str, horizon=None) -> str:
    """The table's name of a headline estimand, e.g. "DiD (group-time ATT): Q1 minus Q5"."""
    design = ("DiD (group-time ATT)" if method == "group_time_att"
              else f"ITS (stacked, {int(horizon)} months)" if pd.notna(horizon) else "ITS (stacked)")
    return f"{design}: {_target_label(target)}"


def _short(row) -> str:
    target = row["target"]
    name = ("Q1 minus Q5" if "-" in target else f"Q{target}" if target.isdigit()
            else f"within-practice {target.upper() if target == 'sii' else target}")
    return f"{DESIGN_SHORT[row['method']]} {name}"


def _scale(value) -> str:
    return f"{float(value):g}"


def _pct(share) -> str:
    return format_percent(100 * share)


def _shown(path: Path) -> str:
    """A path as a reader of the book can find it: from the repository root when it lies inside."""
    try:
        return str(path.relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def _scales_phrase(scales: list[str]) -> str:
    return f"scale{'' if len(scales) == 1 else 's'} {join_words(scales)}"


def _by_scale(data: RecoveryResults) -> dict[float, pd.DataFrame]:
    """Every scale of the study and of the file, in order: its rows (an empty frame when not yet run)."""
    s = data.summary
    held = set(s["scale"]) if data.available else set()
    return {sc: (s[s["scale"] == sc] if sc in held else pd.DataFrame(columns=COLUMNS))
            for sc in sorted(set(data.scales) | held)}


# -- the table ----------------------------------------------------------------------------------------------------
def recovery_frame(data: RecoveryResults) -> pd.DataFrame:
    """The display table's values: scale, scenario, estimand, seeds, truth, bias, coverage (MC SE), correct
    conclusions and, where no effect was planted, the rejection rate (all as strings by the book's formats)."""
    s = data.summary
    order = {sc: i for i, sc in enumerate(SCENARIOS)}
    s = s.assign(_o=s["scenario"].map(order)).sort_values(["scale", "_o"], kind="stable")
    return pd.DataFrame({
        "Scale": [_scale(v) for v in s["scale"]],
        "Scenario": [SCENARIO_LABELS.get(v, (v.capitalize(),))[0] for v in s["scenario"]],
        "Estimand": [estimand_label(m, t, h) for m, t, h in zip(s["method"], s["target"], s["horizon"])],
        "Seeds": [f"{int(n):,}" for n in s["seeds"]],
        "Mean truth (pp)": [format_pp(v) for v in s["truth"]],
        "Mean bias (pp)": [format_signed(v) for v in s["bias"]],
        "Coverage, % (MC SE)": [f"{format_percent(100 * c, sign=False)} ({format_percent(100 * e, sign=False)})"
                                for c, e in zip(s["coverage"], s["coverage_mc_se"])],
        "Correct conclusion, %": [format_percent(100 * c, sign=False) for c in s["correct"]],
        "Rejects no effect, %": [format_percent(100 * r, sign=False) for r in s["rejection_rate"]],
    })


def recovery_table(data: RecoveryResults):
    """The appendix table (a Styler); when the study has not been run, the planned scales, each "not yet run"."""
    if not data.available:
        return html_table(pd.DataFrame({"Scale": [_scale(sc) for sc in data.scales],
                                        "Seeds run": [0] * len(data.scales),
                                        "Status": ["not yet run"] * len(data.scales)}))
    return html_table(recovery_frame(data))


# -- sentences ----------------------------------------------------------------------------------------------------
NOT_RUN = "No {what} can be reported until the study has been run."


def status_sentence(data: RecoveryResults) -> str:
    """What the file holds: seeds per scale of the study (planned and run), scales not yet run, failed fits."""
    if not data.available:
        return (f"The recovery study has not been run for this rendering: its summary (`{_shown(data.path)}`) is "
                f"absent. The study is part of `{COMMAND}` (`bench/recovery_study.py`), and its results appear here "
                "once it has been run.")
    parts = []
    for sc, rows in _by_scale(data).items():
        if rows.empty:
            parts.append(f"scale {_scale(sc)}: not yet run")
            continue
        seeds = int(rows["seeds"].max())
        planned = rows["seeds_planned"].iloc[0] if "seeds_planned" in rows else np.nan
        text = (f"scale {_scale(sc)}: {seeds:,} of {int(planned):,} planned seeds so far"
                if pd.notna(planned) and seeds < planned else f"scale {_scale(sc)}: {seeds:,} seeds")
        if {"first_seed", "last_seed"} <= set(rows):
            text += f" ({int(rows['first_seed'].iloc[0])} to {int(rows['last_seed'].iloc[0])})"
        parts.append(text)
    # failed_fits counts a design's failures per scale and scenario, repeated on each of its estimands' rows.
    failed = (int(data.summary.drop_duplicates(["scale", "scenario", "method"])["failed_fits"].sum())
              if "failed_fits" in data.summary else 0)
    fails = (f"{failed:,} fits failed and are left out of their estimands' seeds" if failed
             else "no fit failed")
    return f"The results file holds {'; '.join(parts)}; {fails}."


def methods_paragraph(data: RecoveryResults) -> str:
    """Seeds, scales, scenarios, what is judged against what, and the targets, from the file and this module."""
    scales = join_words([_scale(s) for s in sorted(set(data.scales) | (set(data.summary["scale"]) if data.available
                                                                   else set()))])
    s = data.summary if data.available else None
    scen = list(dict.fromkeys(s["scenario"])) if s is not None else list(SCENARIOS)
    scen_text = "; ".join(f"{SCENARIO_LABELS.get(k, (k, k))[0].lower()}: {SCENARIO_LABELS.get(k, (k, k))[1]}"
                          for k in scen)
    practices = (f" of {int(s['n_practices'].iloc[0]):,} practices" if s is not None and "n_practices" in s else "")
    horizon = (int(s["horizon"].dropna().iloc[0]) if s is not None and s["horizon"].notna().any()
               else ITS_HORIZONS[-1])
    return (f"Each replicate generates a new synthetic extract{practices} from its own seed, at each extract scale "
            f"of the study ({scales}; scale {_scale(FULL_SCALE)} is the full-size extract), under {len(scen)} "
            f"scenarios ({scen_text}). "
            "In each, the difference-in-differences and interrupted time series chapters' headline analyses are "
            "run exactly as the chapters run them: the group-time ATT per IMD quintile, for Q1 minus Q5 and for "
            "the within-practice gap and slope index of inequality, and the stacked controlled interrupted time "
            f"series per quintile and for Q1 minus Q5 at {horizon} months. Each estimate is judged against its "
            "truth computed from the generator's ground truth itself, with nothing netted out, so non-parallel "
            "trends or the selection of adopters show as bias and lost coverage; the conclusion each analysis "
            "would state is drawn by the book's one rule and compared with the planted direction. The targets: "
            f"95% CI coverage of the truth between {_pct(COVERAGE_BAND[0])} and {_pct(COVERAGE_BAND[1])}; "
            f"in the null scenario, \"no evidence of change\" rejected in {_pct(REJECTION_BAND[0])} to "
            f"{_pct(REJECTION_BAND[1])} of seeds; and in the narrowing and widening scenarios at full scale, the "
            f"planted direction of the inequality concluded in at least {_pct(CORRECT_MIN)} of seeds. Monte Carlo "
            "standard errors are sqrt(p(1 - p)/n) for a share p over n seeds.")


def _shown_pct(shares: pd.Series) -> pd.Series:
    """Shares as the page shows them (percent to 1 decimal), so a share judged outside a band never reads as inside."""
    return (100 * shares.astype(float)).round(1)


def _outside_shown(shown, band: tuple[float, float]):
    return (shown < round(100 * band[0], 1)) | (shown > round(100 * band[1], 1))


def _outside(rows: pd.DataFrame, column: str, band: tuple[float, float]) -> pd.DataFrame:
    return rows[_outside_shown(_shown_pct(rows[column]), band)]


def chance_outside(seeds, nominal: float, band: tuple[float, float]) -> float:
    """The expected number of rows outside ``band`` if every row's true share were exactly ``nominal``: the sum over
    rows of the binomial probability that k of its n seeds, shown as 100 k / n to one decimal, fall outside. Why:
    over 100 seeds a perfectly calibrated 95% interval still lands outside 93% to 97% with probability 0.25, so
    the count outside means something only beside this one."""
    total = 0.0
    for n in np.asarray(seeds, dtype=int):
        k = np.arange(n + 1)
        total += float(stats.binom.pmf(k, n, nominal)[_outside_shown((100 * k / n).round(1), band)].sum())
    return total


def _chance_text(rows: pd.DataFrame, nominal: float, band: tuple[float, float]) -> str:
    expected = chance_outside(rows["seeds"], nominal, band)
    return f"by Monte Carlo error alone, exactly nominal intervals would put {expected:.1f} of the {len(rows)} outside it"


def _far_text(out: pd.DataFrame, column: str, nominal: float, toward: str = "from") -> str:
    """How many of the rows ``out`` lie further from ``nominal`` than :data:`MC_SES` Monte Carlo SEs of a share of
    ``nominal`` over each row's seeds (a share of 0 or 1 has an estimated SE of 0, which would call every departure
    real); ``toward="below"`` counts only rows below it."""
    se = np.sqrt(nominal * (1 - nominal) / out["seeds"])
    gap = (nominal - out[column]) if toward == "below" else abs(out[column] - nominal)
    far = int((gap > MC_SES * se).sum())
    apart = (f"further from {_pct(nominal)} than {MC_SES} Monte Carlo SEs" if toward == "from"
             else f"more than {MC_SES} Monte Carlo SEs below {_pct(nominal)}")
    if len(out) > 1:
        return f"{far} of these {len(out)} {apart}"
    return apart if far else f"within {MC_SES} Monte Carlo SEs of {_pct(nominal)}"


def _named(rows: pd.DataFrame, column: str) -> str:
    """Rows named with their share, grouped by scenario: "null: DiD Q2 (91.0%); widening: ITS Q1 minus Q5 (98.0%)"."""
    shown, rest = rows.iloc[:MAX_NAMED], len(rows) - MAX_NAMED
    groups = []
    for scen, part in shown.groupby("scenario", sort=False):
        groups.append(f"{scen}: " + ", ".join(f"{_short(r)} ({_pct(r[column])})" for _, r in part.iterrows()))
    more = f"; and {rest} more (see the table)" if rest > 0 else ""
    return "; ".join(groups) + more


def _per_scale(data: RecoveryResults, what: str, head: str, describe) -> str:
    """``head``, then ``describe(rows)`` for every scale of the study ("not yet run" for a scale the file lacks)."""
    if not data.available:
        return NOT_RUN.format(what=what)
    parts = [f"scale {_scale(sc)}: " + ("not yet run" if rows.empty else describe(rows))
             for sc, rows in _by_scale(data).items()]
    return f"{head}. " + ". ".join(p[0].upper() + p[1:] for p in parts) + "."


def coverage_sentence(data: RecoveryResults) -> str:
    """Per scale, how many headline estimands' coverage lies within the band, those outside named, and how many of
    those are further from 95% than Monte Carlo error explains (2 SEs of a nominal share over the row's seeds)."""
    lo, hi = COVERAGE_BAND

    def describe(rows: pd.DataFrame) -> str:
        out = _outside(rows, "coverage", COVERAGE_BAND)
        text = f"{len(rows) - len(out)} of {len(rows)} headline estimands within the band"
        if len(out):
            text += f"; outside it {_named(out, 'coverage')} ({_far_text(out, 'coverage', NOMINAL)})"
        return f"{text}; {_chance_text(rows, NOMINAL, COVERAGE_BAND)}"
    return _per_scale(data, "coverage of the truth",
                      f"Coverage of the truth by the 95% CI (target {_pct(lo)} to {_pct(hi)})", describe)


def rejection_sentence(data: RecoveryResults) -> str:
    """Per scale, the null scenario's rejection rates against the band: how many within it, those outside named and
    judged against Monte Carlo error, and how many chance alone would put outside."""
    lo, hi = REJECTION_BAND

    def describe(rows: pd.DataFrame) -> str:
        null = rows[rows["scenario"] == "null"]
        if null.empty:
            return "no null scenario in the file"
        out = _outside(null, "rejection_rate", REJECTION_BAND)
        text = (f"{len(null) - len(out)} of {len(null)} estimands within the band, overall rate "
                f"{_pct(null['rejection_rate'].mean())}")
        if len(out):
            text += (f"; outside it {_named(out, 'rejection_rate')} "
                     f"({_far_text(out, 'rejection_rate', 1 - NOMINAL)})")
        return f"{text}; {_chance_text(null, 1 - NOMINAL, REJECTION_BAND)}"
    return _per_scale(data, "null rejections",
                      f"Rejections of \"no evidence of change\" in the null scenario (target {_pct(lo)} to {_pct(hi)})",
                      describe)


def _direction_rows(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return rows
    return rows[rows["scenario"].isin(DIRECTION_SCENARIOS) & (rows["narrowing"] != 0)]


def direction_sentence(data: RecoveryResults) -> str:
    """At full scale, how many inequality estimands of the narrowing and widening scenarios conclude the planted
    direction in at least 80% of seeds, those below named (and whether more than 2 Monte Carlo SEs of an 80% share
    below it); before scale 1 is run, the largest scale run instead."""
    head = (f"Correct direction of the inequality in the narrowing and widening scenarios (target: at least "
            f"{_pct(CORRECT_MIN)} of seeds at full scale, scale {_scale(FULL_SCALE)})")
    if not data.available:
        return NOT_RUN.format(what="correct conclusions")
    by = {sc: _direction_rows(r) for sc, r in _by_scale(data).items()}
    run = [sc for sc, r in by.items() if not r.empty]
    if not run:
        return f"{head}: the file holds no narrowing or widening rows yet."
    shown = FULL_SCALE if FULL_SCALE in run else max(run)
    rows = by[shown]
    below = rows[_shown_pct(rows["correct"]) < round(100 * CORRECT_MIN, 1)]
    where = (f"at scale {_scale(shown)}," if shown == FULL_SCALE else
             f"scale {_scale(FULL_SCALE)} is not yet run; at the largest scale run, {_scale(shown)},")
    verdict = f"{len(rows) - len(below)} of {len(rows)} reach it"
    text = f"{head}: {where} {verdict}"
    if len(below):
        text += f"; below it {_named(below, 'correct')} ({_far_text(below, 'correct', CORRECT_MIN, 'below')})"
    return text + "."


def trend_sentence(data: RecoveryResults) -> str:
    """The mean share of correct directions (narrowing and widening, inequality estimands) at each scale run, and
    each step between scales judged against Monte Carlo error (the mean of the rows' MC SEs: an upper bound, since
    the rows share seeds)."""
    if not data.available:
        return NOT_RUN.format(what="trend over scales")
    means = {}
    for sc, rows in _by_scale(data).items():
        rows = _direction_rows(rows)
        if not rows.empty:
            means[sc] = (rows["correct"].mean(), rows["correct_mc_se"].mean())
    missing = [_scale(sc) for sc in data.scales if sc not in means]
    levels = join_words([f"{_pct(m)} at scale {_scale(sc)}" for sc, (m, _) in means.items()]) if means else ""
    if len(means) < 2:
        got = f" (so far {levels})" if levels else ""
        return (f"The trend over scales needs at least two scales; {_scales_phrase(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not yet run{got}.")
    steps = []
    scales = list(means)
    for a, b in zip(scales, scales[1:]):
        (ma, sa), (mb, sb) = means[a], means[b]
        noise = MC_SES * np.hypot(sa, sb)
        word = ("rises" if mb - ma > noise else "falls" if ma - mb > noise
                else "stays within Monte Carlo error")
        steps.append(f"from scale {_scale(a)} to {_scale(b)} it {word}")
    tail = f"; {_scales_phrase(missing)} not yet run" if missing else ""
    return (f"The mean share of seeds concluding the planted direction of the inequality (narrowing and widening "
            f"scenarios) is {levels}: {join_words(steps)}{tail}.")
