"""The book's one number-formatting policy (report/tables.py) and every sentence template of report/ rendered with
edge values: no "-0.00", no "nan", p never "0.000", percentages to 1 decimal, percentage points to 2.

Every function of ``beyond_averages.report`` whose name ends in ``_sentence``, ``_text``, ``_note`` or ``_paragraph``
must have a case in ``CASES`` (a new template without one fails ``test_every_template_has_a_case``)."""

from __future__ import annotations

import inspect
import math
import re
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from beyond_averages import config, labels, paths
from beyond_averages.disclosure import DisclosureRules
from beyond_averages.report import (
    did, equity, equity_evaluation, its, its_design, qualitative, recovery, review, study_population, tables,
)

MODULES = (tables, its, did, study_population, equity, review, qualitative, recovery, equity_evaluation, its_design)
SUFFIXES = ("_sentence", "_text", "_note", "_paragraph")
NAN = float("nan")
# Edge values: zero, negative zero, a negative that rounds to zero, a tiny positive, a large value, a large negative.
VALUES = (0.0, -0.0, -0.004, 0.004, 1234567.891, -98765.4321)
P_VALUES = (1e-9, 0.0004, 0.0005, 0.04999, 0.9999, NAN)


# -- the policy functions, against values worked by hand ---------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    (0.0, "0.00"), (-0.0, "0.00"), (-0.004, "0.00"), (-0.005001, "-0.01"), (1.235, "1.24"), (-1.2, "-1.20"),
    (1234.5, "1,234.50"), (NAN, "–"), (None, "–"), (pd.NA, "–"), (np.float32(2.5), "2.50")])
def test_format_pp(value, expected):
    assert tables.format_pp(value) == expected


def test_signed_percent_ratio_count_and_ci():
    assert [tables.format_signed(v) for v in (1.234, -0.456, -0.004, 0.0, 0.004, 0.005001)] == \
        ["+1.23", "-0.46", "0.00", "0.00", "0.00", "+0.01"]
    assert [tables.format_percent(v) for v in (88.64, 91.0, -0.04, 100)] == ["88.6%", "91.0%", "0.0%", "100.0%"]
    assert tables.format_percent(12.345, sign=False) == "12.3"
    assert [tables.format_ratio(v) for v in (1.0249, 0.9951, -0.001)] == ["1.02", "1.00", "0.00"]
    assert [tables.format_count(v) for v in (0, 7.0, 1234567, 2_000_000.4, NAN)] == \
        ["0", "7", "1,234,567", "2,000,000", "[REDACTED]"]
    assert tables.format_ci(-0.004, 2.0) == "0.00 to 2.00"
    assert tables.format_ci(-1.0, 0.0, signed=True) == "-1.00 to 0.00"
    assert tables.format_estimate_ci(-0.001, -0.3, 0.2) == "0.00 (-0.30 to 0.20)"
    assert tables.format_estimate_ci(NAN, 0, 1) == "–"
    assert tables.format_estimate_ci(88.64, 87.91, 89.33, 1) == "88.6 (87.9 to 89.3)"
    assert tables.format_level(0.95) == "95%" and tables.format_level(0.9) == "90%"
    assert tables.format_level(0.995) == "99.5%"


@pytest.mark.parametrize(("p", "table", "sentence"), [
    (1e-9, "< 0.001", "p < 0.001"), (0.0, "< 0.001", "p < 0.001"), (0.000999, "< 0.001", "p < 0.001"),
    (0.001, "0.001", "p = 0.001"), (0.0421, "0.042", "p = 0.042"), (0.9999, "1.000", "p = 1.000"),
    (NAN, "–", "p not available")])
def test_p_values(p, table, sentence):
    assert tables.format_p(p) == table and tables.p_text(p) == sentence


# -- every sentence template -------------------------------------------------------------------------------------
def templates() -> dict[str, object]:
    found = {}
    for module in MODULES:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and name.endswith(SUFFIXES):
                found[f"{module.__name__.rsplit('.', 1)[1]}.{name}"] = fn
    return found


def _frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def _its_settings(**kw):
    base = {"seasonality": "fourier", "harmonics": 2, "covid": "exclude", "covid_start": "2020-03-01",
            "covid_end": "2021-06-01", "autocorrelation": "gls", "gls_correlation": "ar1_noise", "ar_order": 1,
            "ma_order": 0, "family": "gaussian", "transition_months": 3, "alpha": 0.05, "ci_method": "delta"}
    return NS(**{**base, **kw})


def _its_analysis(v, p):
    groups = ["1", "5", labels.CONTRAST_KEY]
    h = 24
    eff = _frame(horizon=[h] * 3, group=groups, estimate=[v, -v, v], ci_lower=[v - 1, v, -0.004],
                 ci_upper=[v + 1, v, 0.004], p_value=[p] * 3)
    cmp = _frame(horizon=[h] * 6, group=["1", "2", "3", "4", "5", labels.CONTRAST_KEY],
                 difference=[v, -v, -0.004, 0.0, -0.0, v], uncontrolled=[v] * 6, controlled=[-0.004] * 6)
    gap = NS(effect_summary=lambda hs: _frame(measure=["absolute"], counterfactual=[v], estimate=[-v],
                                              ci_lower=[-0.004], ci_upper=[v]))
    return NS(horizons=[12, h], controlled_effects=lambda: eff, uncontrolled_vs_controlled=lambda: cmp, gap_fit=gap,
              settings=_its_settings(), controlled_settings=_its_settings(covid="none", autocorrelation="auto"),
              wave=1, n_practices=1234, n_comparison=56789, interruption=pd.Timestamp("2021-07-01"),
              area="no_such_area")


def _its_cases(v, p):
    a = _its_analysis(v, p)
    eff = _frame(measure=["absolute"], horizon=[24], estimate=[v], ci_lower=[-0.004], ci_upper=[v])
    model = NS(settings=_its_settings())
    return {
        "its._season_text": [its._season_text(_its_settings(seasonality=s)) for s in ("fourier", "month", "none")],
        "its._covid_text": [its._covid_text(_its_settings(covid=c)) for c in ("exclude", "indicator", "none")],
        "its._autocorrelation_text": [its._autocorrelation_text(_its_settings(autocorrelation=c))
                                      for c in ("auto", "newey_west", "none", "ar", "gls")],
        "its._indicator_text": [its._indicator_text("no_such_area"),
                                its._indicator_text(config.load_study().default_area)],
        **{f"its.{fn.__name__}": [fn(a)] for fn in (its.methods_sentence, its.controlled_sentence,
                                                    its.uncontrolled_sentence, its.gap_sentence,
                                                    its.uncontrolled_figure_note)},
        "its.effect_sentence": [its.effect_sentence(model, eff)],
        # The controlled sentence's rows, read through the shared template directly too.
        "its.q1_q5_sentence": [its.q1_q5_sentence(a.controlled_effects().query("horizon == 24").set_index("group"),
                                                  "24 months after the start")],
    }


def _did_cases(v, p, monkeypatch):
    settings = NS(contrast=(1, 5), estimator="twfe", outcome_scale="percentage_points", comparison="never_treated",
                  weighting="denominator", wild_bootstrap=99_999, boot_weights="webb", seed=7)
    effects = _frame(estimator=["twfe"] * 3, imd_quintile=[1, 5, NAN], is_contrast=[False, False, True],
                     estimate=[v, -0.004, v], ci_lower=[-0.004, -1.0, -0.004], ci_upper=[v, 0.0, v])
    monkeypatch.setattr(did, "effects_by_quintile", lambda analysis: effects)
    monkeypatch.setattr(did, "inequality_effects", lambda analysis: _frame(
        measure=["gap"], estimator=["twfe"], baseline=[v], estimate=[-0.004], ci_lower=[-0.0], ci_upper=[v]))
    monkeypatch.setattr(did, "parallel_trends", lambda analysis: _frame(p_value=[p, 0.5, NAN]))
    fit = NS(few_clusters_message="", contrast_levels=None, n_clusters=1234, n_treated_clusters=567,
             by="imd_quintile", comparison="never_treated",
             effect_summary=lambda *args: _frame(estimate=[v], ci_lower=[-0.004], ci_upper=[v], term=["Q1 - Q5"],
                                                 event_time=[0]),
             pretrend_test=lambda: {"df": 5, "p_value_f": p})
    months = pd.date_range("2017-01-01", periods=3, freq="MS")
    panel = _frame(practice_id=[1, 1, 1, 2, 2, 2], programme_start=[months[1]] * 3 + [pd.NaT] * 3,
                   month=list(months) * 2)
    analysis = NS(settings=settings, twfe_quintile=fit, panel=panel)
    return {
        "did.methods_sentence": [did.methods_sentence(analysis)],
        "did.disclosure_sentence": [did.disclosure_sentence()],
        "did.triple_difference_sentence": [did.triple_difference_sentence(analysis),
                                           did.triple_difference_sentence(NS(settings=NS(**{
                                               **vars(settings), "wild_bootstrap": 0})))],
        "did.gap_sentence": [did.gap_sentence(analysis)],
        "did.contrast_sentence": [did.contrast_sentence(analysis)],
        "did.parallel_trends_sentence": [did.parallel_trends_sentence(analysis)],
        "did.twfe_sentence": [did.twfe_sentence(fit)],
        "did.event_study_sentence": [did.event_study_sentence(fit)],
        "did.group_time_sentence": [did.group_time_sentence(fit), did.group_time_sentence(fit, (1, 5))],
    }


def _equity_evaluation_cases(v, p):
    from beyond_averages.did.by_dimension import GroupDidSettings
    from beyond_averages.did.dimension_evaluation import DimensionEvaluation
    from beyond_averages.equity.dimensions import DIMENSIONS

    eth, imd, age = DIMENSIONS["ethnicity"], DIMENSIONS["imd_quintile"], DIMENSIONS["age_band"]
    keys = [("group_time_att", g, "effect", None) for g in ("Black", "White")] + [
        ("group_time_att", "Black", "difference", None), ("group_time_att", "Asian", "difference", None),
        ("twfe", "Black", "difference", None), ("group_gap", "Black", "difference", None),
        ("stacked_its", "Black", "difference", 24), ("stacked_its", "Asian", "difference", 24)]
    a = abs(v)
    # (estimate, ci_lower, ci_upper): around v, around 0, wholly above 0, missing, touching 0, wholly below 0
    numbers = [(v, v - 1, v + 1), (-0.004, -0.004, 0.004), (a + 0.5, a + 0.004, a + 1), (NAN, NAN, NAN),
               (-0.5, -1.0, -0.0), (-a - 0.5, -a - 1, -0.004), (v, v - 1, v + 1), (v, -a, a)]
    effects = pd.DataFrame(keys, columns=["estimator", "group", "term", "horizon"]).assign(label=lambda d: d["group"])
    effects[["estimate", "ci_lower", "ci_upper"]] = numbers
    effects["p_value"] = p
    effects["horizon"] = effects["horizon"].astype("Int64")
    base = dict(area="no_such_area", configured=imd, dimension=eth, settings=GroupDidSettings(n_boot=99_999),
                horizons=(6, 24), effects=effects, did=NS(skipped={"Other": "no practice"}, gap_skipped={}),
                its=NS(skipped={"Mixed": "redacted"}), counts=pd.DataFrame(), baseline_month=pd.Timestamp("2021-03-01"),
                waves=(pd.Timestamp("2021-04-01"),), n_adopters=1_234, n_never=56_789, rules=DisclosureRules(7, 5),
                reference="White", requested=None)
    a = DimensionEvaluation(**base)
    configured = DimensionEvaluation(**{**base, "configured": eth})
    asked = DimensionEvaluation(**{**base, "dimension": age, "requested": "age_band", "reference": "45-64",
                                   "effects": effects.iloc[:0], "did": NS(skipped={}, gap_skipped={}),
                                   "its": NS(skipped={})})
    m = equity_evaluation
    return {
        "equity_evaluation.dimension_sentence": [m.dimension_sentence(x) for x in (a, configured, asked)],
        "equity_evaluation.methods_paragraph": [m.methods_paragraph(x) for x in (a, asked)],
        "equity_evaluation.difference_sentence": [m.difference_sentence(a, e, h) for e, h in (
            ("group_time_att", None), ("twfe", None), ("group_gap", None), ("stacked_its", 24))]
            + [m.difference_sentence(asked)],
        "equity_evaluation.agreement_sentence": [m.agreement_sentence(a), m.agreement_sentence(asked)],
        "equity_evaluation.skipped_note": [m.skipped_note(a), m.skipped_note(asked)],
        "equity_evaluation.disclosure_sentence": [m.disclosure_sentence(a)],
    }


def _population_cases(v):
    study = config.load_study()
    area = config.load_area(study.default_area)
    month = pd.Timestamp("2019-03-01")
    months = pd.date_range("2019-12-01", periods=4, freq="MS")
    released = pd.concat([_frame(imd_quintile=[q] * 4, month=months, rate=[v + 50, v, -0.004, v])
                          for q in (0, 1, 5)], ignore_index=True)
    rates = _frame(imd_quintile=[1, 5], rate=[88.64, v])
    equity_rows = _frame(measure=["gap", "ratio", "sii"], estimate=[-0.004, 1.0249, v], ci_lower=[-1.0, 0.99, -0.004],
                         ci_upper=[v, 1.05, v])
    std = _frame(month=[month] * 2, imd_quintile=[1, 5], crude_rate=[v, -0.004], std_rate=[0.0, v])
    inputs = NS(area=area, study=study, measures=_frame(practice_id=[1, 2, 3]), programme=_frame(practice_id=[1]),
                extract_check={"files": {"patients.parquet": {"dropped": 1_234_567},
                                         "events_x.parquet": {"dropped": 3}}})
    analysis = NS(inputs=inputs, rules=DisclosureRules(7, 5), waves=[pd.Timestamp("2021-07-01")], area=area,
                  study=study, released=released, baseline=NS(month=month, rates=rates, equity=equity_rows),
                  standardised=std)
    clean = NS(**{**vars(analysis), "inputs": NS(**{**vars(inputs), "extract_check": {
        "files": {"patients.parquet": {"dropped": 0}}}})})
    from beyond_averages.equity.dimensions import DIMENSIONS

    eth = DIMENSIONS["ethnicity"]
    groups = _frame(group=["White", "Black", "Not recorded"], label=["White", "Black", "Not recorded"],
                    numerator=[900.0, 170.0, np.nan], denominator=[1000.0, 200.0, 10.0], rate=[90.0, v, np.nan],
                    ci_lower=[88.0, -0.004, np.nan], ci_upper=[92.0, v, np.nan],
                    difference=[0.0, -0.004, np.nan], difference_lower=[0.0, -1.0, np.nan],
                    difference_upper=[0.0, v, np.nan])
    cells = _frame(quintile=["1", "5", "1", "0"], member=["White", "White", "Black", "Black"],
                   numerator=[100.0, 200.0, np.nan, 10.0], denominator=[120.0, 220.0, np.nan, 15.0],
                   rate=[v, -0.004, np.nan, 66.7])
    beyond = NS(month=month, dimension=eth, groups=groups, cells=cells,
                total=pd.Series({"numerator": 1_234_565.0, "denominator": 1_234_570.0, "rate": v}),
                summary=_frame(measure=["between_group_variance", "index_of_disparity"], estimate=[v, -0.004]))
    with_beyond = NS(**{**vars(analysis), "beyond": beyond})
    return {
        "study_population.beyond_methods_text": [study_population.beyond_methods_text(with_beyond)],
        "study_population.beyond_sentence": [study_population.beyond_sentence(with_beyond)],
        "study_population.beyond_note": [study_population.beyond_note(with_beyond)],
        "study_population._cell_text": [study_population._cell_text(n, d, r) for n, d, r in
                                        cells[["numerator", "denominator", "rate"]].itertuples(index=False)],
        "study_population.methods_text": [study_population.methods_text(analysis)],
        "study_population.extract_check_sentence": [study_population.extract_check_sentence(analysis),
                                                    study_population.extract_check_sentence(clean)],
        "study_population.disclosure_sentence": [study_population.disclosure_sentence(analysis)],
        "study_population.population_note": [study_population.population_note(analysis)],
        "study_population.baseline_sentence": [study_population.baseline_sentence(analysis)],
        "study_population.standardised_sentence": [study_population.standardised_sentence(analysis)],
        "study_population.covid_sentence": [study_population.covid_sentence(analysis)],
    }


def _review_cases():
    from beyond_averages.review import load_review

    data = load_review(*(paths.DATA_SYNTHETIC / "review" / n for n in
                         ("screening_log.csv", "extraction.csv", "references.bib")))
    big = NS(counts={"duplicates_removed": 1_234_567, "automation_removed": 0, "other_removed": 3,
                     "records_screened": 9_876_543, "reports_assessed": 12_345, "other_reports_assessed": 0,
                     "new_studies": 1, "new_reports": 1_001, "previous_studies": 12_000},
             identified=lambda kinds: 11_111_111, has_previous=True, total_studies=12_001)
    ext = data.extraction
    return {
        "review.provenance_note": [review.provenance_note(data),
                                   review.provenance_note(NS(is_synthetic=False, extraction=ext))],
        "review.flow_sentence": [review.flow_sentence(data.log), review.flow_sentence(big)],
        "review.equity_sentence": [review.equity_sentence(ext)],
        "review.coverage_sentence": [review.coverage_sentence(ext)],
        "review.rob_sentence": [review.rob_sentence(ext)],
        "review.harvest_height_sentence": [review.harvest_height_sentence(h) for h in ("quality", "size")],
        "review.rob_summary_sentence": [review.rob_summary_sentence(w, ext) for w in (True, False)],
    }


def _qualitative_cases(v):
    from beyond_averages.qual import load_csv_project

    data = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    agreement = _frame(code=["All codes", "All codes"], level=["passage", "source"], percent_agreement=[-0.04, v],
                       n_units=[12, 1_234_567], krippendorff_alpha=[-0.004, NAN], cohen_kappa=[NAN, -0.0],
                       n_coders=[2, 2])
    summary = _frame(level=["theme", "theme"], theme=["Access", "Trust"], n_participants=[12, 0], n_segments=[30, 0])
    curve = _frame(event=[1, 2, 3], new_codes=[4, 0, 0], cumulative_codes=[4, 4, 4])
    bands = _frame(theme=["T", "T"], band=["most_deprived", "least_deprived"], n_participants=[1, 2],
                   n_band=[3, 3], share=[1 / 3, 1 / 3 + 1e-12])
    codes = list(data.codebook["code"][:2])
    return {
        **{f"qualitative.{fn.__name__}": [fn(data)] for fn in (qualitative.overview_sentence,
                                                               qualitative._origin_note)},
        "qualitative.agreement_sentence": [qualitative.agreement_sentence(agreement)],
        "qualitative.double_coding_sentence": [qualitative.double_coding_sentence(d) for d in (data, data.double_coding)],
        "qualitative.theme_sentence": [qualitative.theme_sentence(summary)],
        "qualitative.saturation_sentence": [qualitative.saturation_sentence(curve)],
        "qualitative.deprivation_paragraph": [qualitative.deprivation_paragraph(data, codes)],
        "qualitative.deprivation_sentence": [qualitative.deprivation_sentence(bands, "T")],
    }


def _recovery_cases(v):
    """The recovery appendix: shares at and just outside the bands' edges, a zero share with a zero MC SE, a scale
    not yet run, a partial scale, and no file at all; ``v`` as truth and bias."""
    def row(scale, scenario, method, target, coverage, correct, planted, narrowing, seeds=100):
        return dict(scale=scale, scenario=scenario, method=method, target=target,
                    horizon=24.0 if method == "its_stacked" else NAN, planted=planted, narrowing=narrowing,
                    seeds=seeds, seeds_planned=1_234, first_seed=1000, last_seed=999 + seeds, failed_fits=3,
                    n_practices=1_234_567, truth=v, bias=-v, mean_se=0.004, coverage=coverage,
                    coverage_mc_se=math.sqrt(coverage * (1 - coverage) / seeds), correct=correct,
                    correct_mc_se=math.sqrt(correct * (1 - correct) / seeds),
                    rejection_rate=1 - correct if planted == 0 else NAN)

    rows = pd.DataFrame([
        row(0.1, "null", "group_time_att", "1", 0.92999, 0.97001, 0, 0),
        row(0.1, "null", "its_stacked", "1-5", 1.0, 1.0, 0, 1),
        row(0.1, "narrowing", "group_time_att", "gap", 0.0, 0.0, -1, -1),
        row(1.0, "widening", "group_time_att", "sii", 0.97, 0.79999, 1, -1, seeds=7),
        row(1.0, "selection", "its_stacked", "5", 0.5, 0.004, 1, 0, seeds=7)])
    full = recovery.RecoveryResults(paths.ROOT / "bench" / "no_such.csv", rows, (0.1, 0.3, 1.0))
    partial = recovery.RecoveryResults(full.path, rows[rows["scale"] == 0.1], (0.1, 0.3, 1.0))
    absent = recovery.RecoveryResults(full.path, None)
    cases = {f"recovery.{fn.__name__}": [fn(d) for d in (full, partial, absent)]
             for fn in (recovery.status_sentence, recovery.methods_paragraph, recovery.coverage_sentence,
                        recovery.rejection_sentence, recovery.direction_sentence, recovery.trend_sentence)}
    cases["recovery._chance_text"] = [recovery._chance_text(rows, p, band) for p, band in
                                      ((0.95, recovery.COVERAGE_BAND), (0.05, recovery.REJECTION_BAND))]
    cases["recovery._far_text"] = [recovery._far_text(rows.iloc[k:k + n], "correct", 0.8, toward)
                                   for k, n in ((0, 1), (3, 1), (0, 5)) for toward in ("from", "below")]
    return cases


def _its_design_cases(v):
    """The ITS design study's sentence: shares at the target's and the coverage band's edges, a design that reaches
    both (so the chapter would change), none that does, and no file; ``v`` as truth, bias and spread."""
    def row(variant, scenario, coverage, correct):
        return dict(variant=variant, scenario=scenario, seeds=20, truth=v, bias=-v, sd=abs(v), mean_se=0.004,
                    coverage=coverage, correct=correct)

    short = pd.DataFrame([row("chapter", "narrowing", 0.95, 0.79999), row("chapter", "widening", 1.0, 0.0),
                          row("AR(1) errors", "narrowing", 0.92999, 0.8), row("AR(1) errors", "widening", 0.8, 1.0)])
    keeps = short.assign(coverage=0.93)
    met = keeps.assign(correct=0.8)
    return {"its_design.design_sentence": [its_design.design_sentence(f) for f in (short, keeps, met, None)]}


def render_all(monkeypatch) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}

    def add(cases):
        for name, texts in cases.items():
            out.setdefault(name, []).extend(texts)

    for v in VALUES:
        for p in P_VALUES:
            add(_its_cases(v, p))
            add(_did_cases(v, p, monkeypatch))
            add(_equity_evaluation_cases(v, p))
        add(_population_cases(v))
        add(_qualitative_cases(v))
        add(_recovery_cases(v))
        add(_its_design_cases(v))
        effect = _frame(measure=["sii"], estimate=[v], confidence=[0.95], ci_lower=[-0.004], ci_upper=[v])
        add({"equity.sii_sentence": [equity.sii_sentence(effect, " pp"), equity.sii_sentence(effect, " years", 1)]})
    add({"tables.p_text": [tables.p_text(p) for p in P_VALUES]})
    add(_review_cases())
    return out


NEGATIVE_ZERO = re.compile(r"(?<![\d.])[-−]0(?:\.0+)?(?![\d.]*[1-9])\b")
NOT_A_NUMBER = re.compile(r"\b(nan|NaN|inf)\b|\bNone\b(?! of)")  # "None of the 3 tests" is English
P_ZERO = re.compile(r"\bp\s*[=<]\s*0\.000\b|\bp\s*=\s*0(?![.\d])")
PERCENT = re.compile(r"(?<![\d.])(\d[\d,]*(?:\.\d+)?)%")
POINTS = re.compile(r"([+-]?\d[\d,]*(?:\.\d+)?) percentage points")


@pytest.fixture(scope="module")
def rendered():
    with pytest.MonkeyPatch.context() as mp:
        yield render_all(mp)


def test_every_template_has_a_case(rendered):
    missing = sorted(set(templates()) - set(rendered))
    assert not missing, f"sentence templates without an edge-value case in CASES: {missing}"
    assert len(templates()) >= 40  # the templates that exist today; the discovery must not silently find fewer


def test_no_negative_zero_nan_or_zero_p(rendered):
    problems = []
    for name, texts in rendered.items():
        for text in texts:
            assert isinstance(text, str), name  # "" is allowed: a clause left out (no indicator, no check)
            for pattern, what in ((NEGATIVE_ZERO, "negative zero"), (NOT_A_NUMBER, "nan/inf/None"),
                                  (P_ZERO, "p shown as zero")):
                if m := pattern.search(text):
                    problems.append(f"{name}: {what} {m.group(0)!r} in {text!r}")
    assert not problems, "\n".join(problems[:10])


def test_percentages_one_decimal_and_points_two(rendered):
    problems = []
    for name, texts in rendered.items():
        for text in texts:
            for m in PERCENT.finditer(text):
                # A confidence or significance level ("95% CI", "the 5% level") is a setting, not a result.
                is_level = text[m.end():].startswith((" CI", " level", " confidence"))
                if not is_level and not re.fullmatch(r"[\d,]+\.\d", m.group(1)):
                    problems.append(f"{name}: percentage {m.group(1)}% not to 1 decimal in {text!r}")
            for m in POINTS.finditer(text):
                if not re.fullmatch(r"[+-]?[\d,]+\.\d\d", m.group(1)):
                    problems.append(f"{name}: {m.group(1)} percentage points not to 2 decimals in {text!r}")
    assert not problems, "\n".join(problems[:10])


def test_edge_values_reach_the_page_as_policy_says(rendered):
    """Spot checks that the edge values really went through the templates (not a vacuous pass)."""
    its_text = " ".join(rendered["its.controlled_sentence"])
    assert "by +1,234,567.89 percentage points in the most deprived quintile" in its_text
    assert "by 0.00 percentage points in the most deprived" in its_text          # -0.004 and -0.0 show as 0.00
    assert "p < 0.001" in its_text and "p = 1.000" in its_text and "p not available" in its_text
    did_text = " ".join(rendered["did.triple_difference_sentence"])
    assert "99,999 draws" in did_text
    flow = rendered["review.flow_sentence"][1]
    assert "11,111,111 records" in flow and "9,876,543 titles" in flow and "12,001 studies" in flow
    base = " ".join(rendered["study_population.baseline_sentence"])
    assert "was met by 88.6% of eligible patients in the most deprived quintile" in base
    assert "a ratio of 1.02" in base and "(95% CI -1.00 to 0.00)" in base
    assert "1,234,565 patient records" in rendered["study_population.extract_check_sentence"][0]  # rounded to 5
    agreement = rendered["qualitative.agreement_sentence"][0]
    assert "0.0% of 12 passage-code pairs (Krippendorff's alpha 0.00" in agreement
    assert "(0.00 percentage points apart" in rendered["qualitative.deprivation_sentence"][0]
    assert math.isclose(len(rendered["tables.p_text"]), len(P_VALUES))
