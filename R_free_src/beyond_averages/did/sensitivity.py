"""Sensitivity analyses of the DiD chapter's conclusions (issue 13 items 4 and 6): does the answer survive other
choices, and does it depend on parallel trends between adopters and never-adopters?

Every headline estimand of the chapter (the effect in each IMD quintile, the Q_a - Q_b difference, the change in the
within-practice gap and SII) is re-estimated

* with the other comparison group (not yet treated instead of never treated, or the reverse);
* under the other parallel-trends assumption: without the baseline covariates when the main analysis conditions on
  them (its default, :mod:`.covariates`: conditional parallel trends, the doubly robust 2x2 of :mod:`.drdid`, as R
  ``did``'s ``xformla`` with ``est_method = "dr"``), with them when it does not;
* excluding the COVID-19 period (:func:`exclude_covid`): the months from the study's ``covid_start`` to the month
  before the first adoption wave leave the panel (the ITS chapter's uncontrolled fits exclude the same span by
  default: ``covid_start`` to the month before the interruption);
* by HonestDiD (:func:`honest_rows`): the relative-magnitudes robust set at Mbar = 1 (each post-adoption change in
  the violation of parallel trends at most as large as the largest pre-adoption one, on bins of event time), and
  for the primary estimand the breakdown Mbar.

Every row keeps the main analysis's other choices (its parallel-trends assumption included). The first three
change the identifying assumption, so a move of their estimate beyond the main analysis's CI says
the main estimate depends on parallel trends (``probes_parallel_trends``). For the primary estimand the table also
holds the log-odds scale (each cell's indicator as log((numerator + 0.5) / (denominator - numerator + 0.5)): for
proportions near 90% a percentage-point change means more at the top of the scale) and two-way fixed effects; for
the within-practice gap the sparse-quintile rules of :mod:`.sparse`. These change the scale, the estimator or the
practices kept, not the comparison, so they do not probe parallel trends. Rows are tidy (``analysis, estimand,
scale, estimate, ci_lower, ci_upper, practices, probes_parallel_trends, breakdown``; HonestDiD rows also
``pt_ci_lower, pt_ci_upper``; main-analysis rows ``baseline_smd``, how far adopters started from the comparison
units: :func:`.covariates.baseline_balance`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from beyond_averages.config import load_study
from beyond_averages.did.aggregation import EventWindow
from beyond_averages.did.covariates import baseline_balance, conditional_fit
from beyond_averages.did.honest import HonestDiD
from beyond_averages.did.panel import inequality_weights, within_practice_inequality
from beyond_averages.did.sparse import SparseRule
from beyond_averages.did.staggered import GroupTimeATT

COMMON = dict(unit="practice_id", time="month", first_treated="programme_start")
SPARSE_RULES = (SparseRule(10, "adjacent"), SparseRule(1))   # stricter, and the extreme quintiles alone
MAIN, OTHER_COMPARISON = "main analysis", "{} comparison group"
COVARIATES, NO_COVID, HONEST = "baseline covariates", "excluding the COVID-19 period", "HonestDiD, Mbar = 1"
NO_COVARIATES = "without baseline covariates"   # the row of a main analysis under conditional parallel trends
LOG_ODDS, TWFE = "log-odds scale", "two-way fixed effects"
# HonestDiD on bins of event time: monthly event studies of 11 pre- and 25 post-periods take minutes per estimand in
# the conditional test, 4 pre- and 8 post-period bins seconds. The target is the headline itself (the simple
# aggregation: post bins weighted by the group sizes behind them), not R's default, the first post-period.
HONEST_PRE, HONEST_MAX_POST = 4, 8
HONEST_MBAR = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)   # the breakdown is read on these values (primary estimand)
NOT_ESTIMATED = {"estimate": np.nan, "ci_lower": np.nan, "ci_upper": np.nan}
HONEST_GRID = 250                 # grid points of the test inversion (R: 1,000; the breakdown needs no finer grid)


def log_odds(panel: pd.DataFrame) -> pd.Series:
    """Empirical log-odds of each cell's indicator (0.5 added to both counts, so 0% and 100% stay finite)."""
    num, den = panel["numerator"].astype(float), panel["denominator"].astype(float)
    return np.log((num + 0.5) / (den - num + 0.5))


def exclude_covid(frame: pd.DataFrame, covid_start) -> pd.DataFrame | None:
    """``frame`` without the months from ``covid_start`` to the month before the first adoption wave (None when no
    month falls there). Base period: the estimator compares each wave with the last month kept before its adoption,
    so a wave whose month before adoption was excluded is compared from the last pre-COVID-19 month (a long
    difference across the disruption); later waves keep the month before their adoption."""
    first, covid = frame["programme_start"].min(), pd.Timestamp(covid_start)
    out = frame[~((frame["month"] >= covid) & (frame["month"] < first))]
    return out if len(out) < len(frame) else None


def _row(fit_row: pd.Series, practices: int | None = None) -> dict:
    out = {k: float(fit_row[k]) for k in ("estimate", "ci_lower", "ci_upper")}
    return out if practices is None else {**out, "practices": practices}


def _practice_row(fit: GroupTimeATT, frame: pd.DataFrame) -> dict:
    """The overall row of a fit on a practice-level panel, with the practices it kept (all months present)."""
    return _row(fit.tidy().iloc[0], int(frame["practice_id"].nunique()) - fit.n_units_dropped)


def _quintile_rows(fit: GroupTimeATT, contrast: tuple[int, int]) -> list[tuple[str, dict]]:
    """(estimand, numbers) for each quintile and the contrast of a quintile fit."""
    rows = [(f"Q{int(r['level'])}", _row(r)) for _, r in fit.tidy().iterrows()]
    a, b = contrast
    return rows + [(f"Q{a} - Q{b}", _row(fit.contrast(a, b).iloc[0]))]


def _fits(panel, ineq, *, weights, comparison, contrast, conditional, covid_start, keep=None):
    """(estimand, numbers) of every headline estimand by the group-time ATT on ``panel`` and ``ineq``, under
    conditional parallel trends (``conditional``: the covariates of :func:`.covariates.baseline_covariates`) or
    unconditional. A fit that cannot be made (e.g. a quintile whose every cell's propensity score separates
    perfectly in a small extract) gives missing numbers, which the conclusion rule reads as "not estimable",
    rather than stopping the chapter. ``keep``: a function of a panel dropping months (applied after the
    covariates are attached, so that they describe the same baseline year as the main analysis's)."""
    common = dict(weights=weights, comparison=comparison, warn=False, **COMMON)
    a, b = contrast
    try:
        fit = conditional_fit(panel, "outcome", ["practice_id", "imd_quintile"], covid_start, conditional,
                              keep=keep, by="imd_quintile", source="did panel", **common)
        rows = _quintile_rows(fit, contrast)
    except ValueError:
        rows = [(f"Q{q}", dict(NOT_ESTIMATED)) for q in sorted(panel["imd_quintile"].unique())]
        rows.append((f"Q{a} - Q{b}", dict(NOT_ESTIMATED)))
    for measure in ("gap", "sii"):
        rows.append((measure, _inequality_row(ineq, measure, common, conditional, covid_start, keep)))
    return rows


def _inequality_row(ineq, measure: str, common: dict, conditional: bool, covid_start, keep=None) -> dict:
    """The overall row of the group-time ATT on one within-practice measure (missing numbers if it cannot be fitted)."""
    common = {**common, "weights": inequality_weights(measure, common.get("weights"))}
    try:
        f = conditional_fit(ineq, measure, ["practice_id"], covid_start, conditional, keep=keep,
                            source=f"within-practice {measure}", **common)
        return _practice_row(f, ineq)
    except ValueError:
        return dict(NOT_ESTIMATED)


def _binned_event_study(fit: GroupTimeATT, level, width: int, n_post: int):
    """``(b, psi, l)`` of one level: pre-period bins (plain means of the event-time estimates, counted back from the
    reference month -1, which is left out: 0 by construction) then post-period bins (means weighted by the group
    sizes behind each event time, so that ``l' b_post``, ``l`` the bins' shares of those weights, is the simple
    aggregation, the headline, exactly when every post event time is in a bin)."""
    fitted = fit._fits[level]
    frame, psi = fitted.aggregate("dynamic", EventWindow(min_e=-1 - width * HONEST_PRE))
    keep = np.flatnonzero(~frame["overall"].to_numpy())
    times, b, psi = frame["key"].to_numpy()[keep].astype(int), frame["estimate"].to_numpy(float)[keep], psi[:, keep]
    cell_e = fitted.agg.tc - fitted.agg.gc
    size = np.array([fitted.agg.cell_pg[cell_e == e].sum() for e in times])
    pre = [(times <= -2 - width * j) & (times >= -1 - width * (j + 1)) for j in reversed(range(HONEST_PRE))]
    post = [(times >= width * j) & (times < width * (j + 1)) for j in range(n_post)]
    if min(times) > -1 - width * HONEST_PRE or not all(m.any() for m in pre + post):
        raise ValueError(f"event times {times.min()}..{times.max()} do not fill {HONEST_PRE} pre- and {n_post} "
                         f"post-period bins of {width} months")
    binning = np.array([m / m.sum() for m in pre] + [m * size / (m * size).sum() for m in post])
    shares = np.array([(m * size).sum() for m in post])
    return binning @ b, psi @ binning.T, shares / shares.sum()


def _honest_inputs(fit: GroupTimeATT, level, minus=None):
    """Binned event study (pre-period bins first), its covariance, the target's weights ``l`` and the number of
    post-period bins. Bins are :data:`HONEST_MAX_POST` or fewer over the post-adoption months, as wide as needed
    (the conditional test's time grows steeply with the number of post-periods). With ``minus``: level ``level``
    minus level ``minus`` (joint influence functions, clustered as the fit is), ``l`` the mean of the two levels'."""
    months = int(fit._fits[level].aggregate("dynamic", EventWindow(min_e=0))[0]["key"].max()) + 1
    width = -(-months // HONEST_MAX_POST)
    n_post = -(-months // width)
    b, psi, l_vec = _binned_event_study(fit, level, width, n_post)
    if minus is not None:
        b2, psi2, l2 = _binned_event_study(fit, minus, width, n_post)
        b, psi, l_vec = b - b2, psi - psi2, (l_vec + l2) / 2
    return b, psi.T @ psi, l_vec, n_post


def honest_rows(panel, ineq, *, weights, comparison, contrast, primary: str, conditional: bool = False,
                covid_start=None) -> list[tuple[str, dict]]:
    """(estimand, numbers) of the HonestDiD robust set at Mbar = 1 (relative magnitudes, Delta^RM) for the
    headline's target, the simple aggregation (``ci_lower, ci_upper``; ``estimate`` its midpoint), the same target's
    interval under exact parallel trends from the analytic covariance (``pt_ci_lower, pt_ci_upper``: whether the
    conclusion changes is judged against it, since the main CI is the bootstrap's) and, for the ``primary``
    estimand only, ``breakdown`` (the largest Mbar of :data:`HONEST_MBAR` whose set excludes 0). Estimands that
    cannot be fitted, or whose event study does not reach the pre-period bins, are left out. ``conditional``: the
    event studies under conditional parallel trends (the main analysis's baseline covariates)."""
    base = dict(weights=weights, comparison=comparison, base_period="universal", warn=False, **COMMON)
    a, b = contrast
    targets = []
    try:
        fit = conditional_fit(panel, "outcome", ["practice_id", "imd_quintile"], covid_start, conditional,
                              by="imd_quintile", source="did panel", **base)
        targets += [(f"Q{q}", fit, q, None) for q in fit.levels] + [(f"Q{a} - Q{b}", fit, a, b)]
    except ValueError:
        pass
    for measure in ("gap", "sii"):
        try:
            kw = {**base, "weights": inequality_weights(measure, weights)}
            targets.append((measure, conditional_fit(ineq, measure, ["practice_id"], covid_start, conditional,
                                                     source=f"within-practice {measure}", **kw), None, None))
        except ValueError:
            pass
    rows = []
    for estimand, fit, level, minus in targets:
        mbar = HONEST_MBAR if estimand == primary else (1.0,)
        try:
            beta, sigma, l_vec, n_post = _honest_inputs(fit, level, minus)
            h = HonestDiD(beta, sigma, HONEST_PRE, n_post, l_vec=l_vec, mbar=mbar, grid_points=HONEST_GRID)
        except ValueError:
            continue
        t = h.tidy()
        one, original = t[t["value"] == 1.0].iloc[0], h.original().iloc[0]
        # The estimate of a robust set is its midpoint (HonestDiD has no point estimate of its own): it only lets
        # the conclusion rule read the set; the report shows the set alone.
        rows.append((estimand, {"estimate": float(one["estimate"]), "ci_lower": float(one["ci_lower"]),
                                "ci_upper": float(one["ci_upper"]), "pt_ci_lower": float(original["ci_lower"]),
                                "pt_ci_upper": float(original["ci_upper"]),
                                "breakdown": h.breakdown() if estimand == primary else np.nan}))
    return rows


def did_sensitivity(analysis, covid_start=None) -> pd.DataFrame:
    """The sensitivity rows of a :class:`~beyond_averages.did.analysis.DidAnalysis`, main analysis first;
    ``covid_start`` defaults to the study's (``study.yaml``)."""
    s = analysis.settings
    a, b = s.contrast
    w = "denominator" if s.weighting == "denominator" else None
    panel, ineq = analysis.panel, analysis.inequality_panel
    covid_start = covid_start or load_study().covid_start
    n_practices = int(panel["practice_id"].nunique())
    contrast = f"Q{a} - Q{b}"
    rows = []

    def add(analysis_name, found, scale=s.outcome_scale, practices=n_practices, probes=False):
        for estimand, numbers in found:
            rows.append({"analysis": analysis_name, "estimand": estimand, "scale": scale, "practices": practices,
                         "probes_parallel_trends": probes, "breakdown": np.nan, "pt_ci_lower": np.nan,
                         "pt_ci_upper": np.nan, **numbers})

    if not (panel["month"] < panel["programme_start"].min()).any():
        raise ValueError("the panel has no month before the first adoption wave")

    main = _quintile_rows(analysis.gta_quintile, s.contrast)
    main += [(m, _practice_row(analysis.inequality[(m, "group_time_att")], ineq)) for m in ("gap", "sii")]
    balance = baseline_balance(panel, ineq, s.contrast, covid_start)
    add(MAIN, [(e, {**numbers, "baseline_smd": balance.get(e, np.nan)}) for e, numbers in main])
    conditional = s.parallel_trends == "conditional"
    with warnings.catch_warnings():   # the few-clusters warning was given once, by the main analysis
        warnings.simplefilter("ignore", UserWarning)
        other = "not_yet_treated" if s.comparison == "never_treated" else "never_treated"
        # Every row changes one choice of the main analysis and keeps the others (its parallel-trends assumption too).
        common = dict(weights=w, contrast=s.contrast, covid_start=covid_start)
        add(OTHER_COMPARISON.format(other.replace("_", "-")),
            _fits(panel, ineq, comparison=other, conditional=conditional, **common), probes=True)
        add(NO_COVARIATES if conditional else COVARIATES,
            _fits(panel, ineq, comparison=s.comparison, conditional=not conditional, **common), probes=True)
        if exclude_covid(panel, covid_start) is not None:
            add(NO_COVID, _fits(panel, ineq, comparison=s.comparison, conditional=conditional,
                                keep=lambda frame: exclude_covid(frame, covid_start), **common), probes=True)
        add(HONEST, honest_rows(panel, ineq, weights=w, comparison=s.comparison, contrast=s.contrast,
                                primary=contrast, conditional=conditional, covid_start=covid_start))
        fit = conditional_fit(panel.assign(outcome=log_odds(panel)), "outcome", ["practice_id", "imd_quintile"],
                              covid_start, conditional, by="imd_quintile", weights=w, comparison=s.comparison,
                              source="did panel (log-odds)", **COMMON)
        add(LOG_ODDS, [(contrast, _row(fit.contrast(a, b).iloc[0]))], scale="log_odds")
        tw = analysis.twfe_quintile.tidy()
        add(TWFE, [(contrast, _row(tw[tw["level"].isna()].iloc[0]))])
        for rule in SPARSE_RULES:
            ineq_rule = within_practice_inequality(panel, s.outcome_scale, rule=rule)
            found = _inequality_row(ineq_rule, "gap", dict(weights=w, comparison=s.comparison, warn=False, **COMMON),
                                    conditional, covid_start)
            add(rule.name, [("gap", found)])
    return pd.DataFrame(rows)
