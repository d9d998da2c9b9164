"""A continuous outcome (issue #14 item 6): the mean of each eligible patient's latest value, on hand-built patients,
against the generator's ground truth, the planted NPDA-sized effect recovered by the group-time ATT, the area file's
checks and the disclosure of means."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from test_measures import _write as write_extract
import yaml

from beyond_averages import config, paths
from beyond_averages.did.continuous import mean_and_se, run_continuous_analysis, within_practice_sii
from beyond_averages.disclosure import DisclosureRules
from beyond_averages.files import InputError
from beyond_averages.measures.values import (
    check_value_measures, compute_value_measures, write_value_measures,
)
from beyond_averages.recovery import gta_estimand
from beyond_averages.report import continuous as report
from beyond_averages.synth import generate_area, generate_population

HBA1C, DIABETES = "43396009", "44054006"
AREA = "diabetes_care"


# -- hand-built patients ----------------------------------------------------------------------------------------
def _study(tmp_path):
    base = config.load_study()
    return base.model_copy(update=dict(study_start=dt.date(2020, 1, 1), study_end=dt.date(2020, 12, 1),
                                       extract_dir=tmp_path))


def _area(lookback=4):
    data = config.load_area(AREA).model_dump()
    data["continuous_outcome"]["lookback_months"] = lookback
    return config.Area.model_validate(data)


def _patient(pid, birth="1960-01-01", start="2010-01-01", end=None, decile=1):
    return dict(patient_id=pid, practice_id="P0001", sex="female", birth_date=pd.Timestamp(birth),
                imd_decile=decile, registration_start=pd.Timestamp(start),
                registration_end=pd.Timestamp(end) if end else pd.NaT, death_date=pd.NaT)


def _write(tmp_path, patients, events):
    """The extract of hand-built patients and events, written as the measures tests write theirs."""
    write_extract(tmp_path, patients, events, area_name=AREA)


def _series(frame, column, quintile=1):
    sel = frame[frame["imd_quintile"] == quintile].sort_values("month")
    return sel[column].tolist()


def test_latest_value_in_the_window_and_only_values_of_the_codelist(tmp_path):
    events = [(1, DIABETES, "2015-01-01", 99.0),       # a diagnosis with a value is not an HbA1c
              (1, HBA1C, "2019-11-20", 50.0),          # covers Nov 2019 - Feb 2020 (4-month window)
              (1, HBA1C, "2020-03-02", 40.0),
              (1, HBA1C, "2020-03-15", 70.0),          # later in March: the latest, covers Mar - Jun
              (1, HBA1C, "2020-07-10", np.nan),        # a test without a value is ignored
              (1, HBA1C, "2020-09-10", 60.0)]
    _write(tmp_path, [_patient(1)], events)
    m = compute_value_measures(_area(lookback=4), tmp_path, _study(tmp_path))
    assert _series(m, "value_n") == [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1]
    assert _series(m, "value_sum") == [50, 50, 70, 70, 70, 70, 0, 0, 60, 60, 60, 60]
    assert _series(m, "value_sum_sq") == [2500, 2500, 4900, 4900, 4900, 4900, 0, 0, 3600, 3600, 3600, 3600]
    assert _series(m, "denominator") == [1] * 12


def test_eligibility_register_age_and_registration(tmp_path):
    patients = [_patient(1), _patient(2), _patient(3), _patient(4, birth="2005-06-01"),
                _patient(5, end="2020-05-15"), _patient(6, decile=10)]
    events = [(1, DIABETES, "2015-01-01", np.nan), (1, HBA1C, "2020-01-10", 50.0),
              (2, HBA1C, "2020-01-10", 80.0),                                      # not on the register
              (3, DIABETES, "2020-06-20", np.nan), (3, HBA1C, "2020-04-05", 66.0),  # diagnosed in June
              (4, DIABETES, "2019-01-01", np.nan), (4, HBA1C, "2020-01-10", 90.0),  # 17 in June 2022
              (5, DIABETES, "2015-01-01", np.nan), (5, HBA1C, "2020-01-10", 70.0),  # left in May
              (6, DIABETES, "2015-01-01", np.nan), (6, HBA1C, "2020-02-10", 55.0)]  # Q5
    _write(tmp_path, patients, events)
    m = compute_value_measures(_area(lookback=4), tmp_path, _study(tmp_path))
    # Q1: patient 1 (Jan-Apr), patient 5 (Jan-Apr: not registered at the end of May), patient 3 (Jun-Jul only:
    # his April value counts once he is on the register, until its window closes).
    assert _series(m, "value_n") == [2, 2, 2, 2, 0, 1, 1, 0, 0, 0, 0, 0]
    assert _series(m, "value_sum") == [120, 120, 120, 120, 0, 66, 66, 0, 0, 0, 0, 0]
    assert _series(m, "value_sum_sq") == [7400, 7400, 7400, 7400, 0, 66**2, 66**2, 0, 0, 0, 0, 0]
    assert _series(m, "denominator") == [2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 2]
    assert _series(m, "value_n", quintile=5) == [0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_mean_sd_and_standard_error_from_the_sums():
    mean, sd, se = mean_and_se([2, 1, 0], [120.0, 66.0, 0.0], [7400.0, 66.0**2, 0.0])
    assert mean[0] == 60 and sd[0] == pytest.approx(np.sqrt(200)) and se[0] == pytest.approx(10.0)
    assert mean[1] == 66 and np.isnan(sd[1]) and np.isnan(mean[2])


def test_value_measures_checks_name_the_column():
    good = pd.DataFrame({"month": pd.Timestamp("2020-01-01"), "practice_id": "P1", "imd_quintile": [1, 2],
                         "denominator": [3, 3], "value_n": [2, 0], "value_sum": [120.0, 0.0],
                         "value_sum_sq": [7400.0, 0.0]})
    check_value_measures(good)
    with pytest.raises(InputError, match="x.parquet: columns 'value_n'/'denominator'"):
        check_value_measures(good.assign(value_n=[4, 0]), "x.parquet")
    with pytest.raises(InputError, match="column 'value_sum_sq' is below"):
        check_value_measures(good.assign(value_sum_sq=[7000.0, 0.0]))
    with pytest.raises(InputError, match="0 where value_n is 0"):
        check_value_measures(good.assign(value_sum=[120.0, 5.0]))


def test_within_practice_sii_on_the_mean_scale():
    """Equal populations, means falling by 1 per quintile: ranks 0.1 .. 0.9, a fall of 1 per 0.2 of rank, so the SII
    (least minus most deprived) is -5."""
    panel = pd.DataFrame({"practice_id": "P1", "month": pd.Timestamp("2020-01-01"), "imd_quintile": [1, 2, 3, 4, 5],
                          "value_n": [10] * 5, "mean": [60.0, 59.0, 58.0, 57.0, 56.0], "programme_start": pd.NaT})
    assert within_practice_sii(panel)["sii"].iloc[0] == pytest.approx(-5.0)
    one = panel.assign(value_n=[10, 0, 0, 0, 0])
    assert np.isnan(within_practice_sii(one)["sii"].iloc[0])  # one quintile with values: no slope


# -- the area file -------------------------------------------------------------------------------------------
def _area_file(tmp_path, change):
    data = yaml.safe_load(paths.area_file(AREA).read_text())
    change(data)
    path = tmp_path / f"{AREA}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("continuous_outcome"), "value_effects plants effects on a continuous outcome, but the area"),
    (lambda d: d["continuous_outcome"].update(codelist="diabetes_diagnosis"), "must be the indicator's codelist"),
    (lambda d: d["continuous_outcome"].update(lookback_months=24), "must not exceed indicator.lookback_months"),
    (lambda d: d["synthetic"]["value_effects"].pop("uniform"), "value_effects needs every scenario"),
    (lambda d: d["continuous_outcome"].update(unit_typo="x"), "continuous_outcome.unit_typo': unknown key"),
    (lambda d: d["continuous_outcome"].pop("lower_is_better"), "continuous_outcome.lower_is_better': required"),
    (lambda d: d["synthetic"].pop("values"), "continuous_outcome needs synthetic.values"),
])
def test_area_file_errors_name_file_and_key(tmp_path, change, message):
    path = _area_file(tmp_path, change)
    with pytest.raises(config.ConfigError, match=message) as err:
        config.load_area(path)
    assert str(path) in str(err.value)


def test_selection_plants_narrowing_value_effects():
    syn = config.load_area(AREA).synthetic
    assert syn.value_effects["selection"] == syn.value_effects["narrowing"]
    widening = syn.value_effects["widening"]
    # The proposal's NPDA figures: a mean fall of 2.6, the least deprived falling 5.7 more than the most deprived.
    assert np.mean(list(widening.values())) == pytest.approx(-2.6)
    assert widening[1] - widening[5] == pytest.approx(5.7)


# -- the generator's truth and the estimators ----------------------------------------------------------------------
def test_planted_value_effect_in_ground_truth(study):
    """Everyone on the register, registered throughout, at an adopting practice: two years after the start (ramp
    and look-back complete) the true mean with the programme is the planted effect below the one without."""
    from beyond_averages.synth.events import simulate_area

    data = config.load_area(AREA).model_dump()
    data["synthetic"]["registers"]["diabetes_diagnosis"]["prevalence_by_quintile"] = {q: 0.999 for q in range(1, 6)}
    area = config.Area.model_validate(data)
    n = 8000
    patients = pd.DataFrame({
        "patient_id": np.arange(n), "sex": "female", "birth_date": pd.Timestamp("1955-01-01"),
        "imd_decile": pd.array([1] * (n // 2) + [10] * (n // 2), dtype="Int8"),
        "registration_start": pd.Timestamp("2000-01-01"), "registration_end": pd.NaT, "death_date": pd.NaT,
    })
    _, truth, _ = simulate_area(area, study, patients, 0.0, pd.Timestamp("2018-01-01"), "widening",
                             np.random.default_rng(7))
    late = truth[truth["month_index"] >= 2020 * 12].groupby("imd_quintile").sum()
    effect = late["value_sum"] / late["value_n"] - late["value_sum_counterfactual"] / late["value_n_counterfactual"]
    planted = area.synthetic.value_effects["widening"]
    assert effect[1] == pytest.approx(planted[1], abs=0.15)
    assert effect[5] == pytest.approx(planted[5], abs=0.15)


@pytest.fixture(scope="module")
def widening_extract(tmp_path_factory, study):
    out = tmp_path_factory.mktemp("continuous")
    settings = dict(scale=0.1, n_practices=40, seed=123, scenario="widening")
    generate_population(out, study, progress=False, **settings)
    generate_area(AREA, out, study, progress=False, **settings)
    path = write_value_measures(config.load_area(AREA), out, study, out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few treated clusters at this scale
        analysis = run_continuous_analysis(AREA, path, out / f"programme_{AREA}.parquet")
    return out, analysis


def test_value_measures_equal_the_generator_truth(widening_extract):
    out, analysis = widening_extract
    truth = pd.read_parquet(out / f"ground_truth_{AREA}_values.parquet")
    truth["month"] = truth["month"].astype("datetime64[s]")
    joined = analysis.panel.merge(truth, on=["practice_id", "imd_quintile", "month"], suffixes=("", "_truth"),
                                  validate="one_to_one")
    assert len(joined) == len(analysis.panel) == len(truth)
    assert (joined["value_n"] == joined["value_n_truth"]).all()
    assert np.abs(joined["value_sum"] - joined["value_sum_truth"]).max() < 1e-6


def _truth_estimands(analysis, truth) -> dict:
    """The group-time ATT's estimand per quintile from the truth: unit effect = mean with minus mean without the
    programme, units and weights as the estimator keeps them (:func:`beyond_averages.recovery.gta_estimand`)."""
    truth["month"] = truth["month"].astype("datetime64[s]")
    j = analysis.panel.merge(truth, on=["practice_id", "imd_quintile", "month"], suffixes=("", "_truth"))
    j["effect"] = j["mean"] - j["value_sum_counterfactual"] / j["value_n_counterfactual"]
    out = {}
    for q, part in j.groupby("imd_quintile"):
        part = part[part.groupby("practice_id")["value_n"].transform("min") > 0].sort_values(["practice_id", "month"])
        months, units = np.sort(part["month"].unique()), part["practice_id"].unique()
        shape = (len(units), len(months))
        starts = part.groupby("practice_id", sort=True)["programme_start"].first().reindex(units)
        first = np.array([np.searchsorted(months, np.datetime64(s, "s")) if pd.notna(s) else -1 for s in starts])
        out[q] = gta_estimand(part["effect"].to_numpy().reshape(shape),
                              part["value_n"].to_numpy(float).reshape(shape).mean(1), first)
    return out


def test_planted_widening_recovered(widening_extract):
    out, analysis = widening_extract
    truth = _truth_estimands(analysis, pd.read_parquet(out / f"ground_truth_{AREA}_values.parquet"))
    # The planted gradient survives the ramp and the look-back: the true effect falls from Q1 to Q5.
    assert all(truth[q] > truth[q + 1] for q in range(1, 5))
    est = analysis.gta_quintile.tidy().set_index("level")
    for q in range(1, 6):
        assert est.loc[q, "ci_lower"] < truth[q] < est.loc[q, "ci_upper"], q
    c = analysis.gta_quintile.contrast(1, 5).iloc[0]
    assert c["ci_lower"] < truth[1] - truth[5] < c["ci_upper"]
    assert c["ci_lower"] > 0  # widening: the least deprived fell more, and the interval says so
    rows = report.effects(analysis).set_index("row")
    # Lower is better and the most deprived start higher: a larger fall among the least deprived widens.
    assert rows.loc["contrast", "narrowing"] == -1 and rows.loc["contrast", "conclusion"] == "widened"
    assert rows.loc["sii", "conclusion"] == "widened"
    assert rows.loc[5, "conclusion"] == "decreased (an improvement)"


def test_sentences_state_the_computed_numbers(widening_extract):
    _, analysis = widening_extract
    c = analysis.gta_quintile.contrast(1, 5).iloc[0]
    text = report.effects_sentence(analysis)
    assert f"{c['estimate']:.2f} mmol/mol" in text and "the inequality widened" in text
    sii = analysis.pooled_sii
    last = sii[(sii["arm"] == "adopters") & (sii["period"] == "last")].iloc[0]
    assert f"{last['estimate']:.2f} mmol/mol" in report.sii_sentence(analysis)
    assert f"{analysis.panel['practice_id'].nunique()} practices" in report.methods_sentence(analysis)


def test_means_over_few_patients_are_suppressed(widening_extract):
    rules = DisclosureRules(7, 5)
    frame = pd.DataFrame({"value_n": [3, 7, 8, 12], "value_sum": [180.0, 420.0, 480.0, 600.0],
                          "value_sum_sq": [1.0, 1.0, 1.0, 1.0]})
    out = report.release_means(frame, rules=rules)
    assert out["value_n"].tolist()[2:] == [10, 10] and out["value_n"].isna().tolist()[:2] == [True, True]
    assert out["mean"].isna().tolist() == [True, True, False, False]
    assert out["mean"].tolist()[2:] == [60.0, 50.0]
    assert "value_sum" not in out and "value_sum_sq" not in out
    # The figure's data: no mean shown over a redacted number of patients.
    _, analysis = widening_extract
    strict = DisclosureRules(400, 5)
    shown = report.trends(analysis, strict)
    raw = analysis.panel.assign(adopter=analysis.panel["programme_start"].notna()).groupby(
        ["imd_quintile", "adopter", "month"])["value_n"].sum().to_numpy()
    assert (raw <= 400).any() and shown["mean"].isna().to_numpy().tolist() == (raw <= 400).tolist()


def test_a_book_without_a_continuous_outcome_shows_the_area_that_has_one():
    from beyond_averages.config import load_area
    from beyond_averages.did.continuous import outcome_area

    assert outcome_area(load_area("hypertension_case_finding")).name == AREA
    assert outcome_area(load_area(AREA)).name == AREA


def test_area_without_a_continuous_outcome_says_so(monkeypatch):
    # No area of the compendium defines one: the chapter says so and reads nothing.
    monkeypatch.setattr("beyond_averages.did.continuous.list_areas", lambda: ["hypertension_case_finding"])
    analysis = run_continuous_analysis("hypertension_case_finding")
    assert analysis.outcome is None and analysis.panel is None
    assert report.methods_sentence(analysis).startswith("The area Hypertension case finding")
    assert report.effects_sentence(analysis) == "" and report.sii_sentence(analysis) == ""
    assert report.disclosure_sentence(analysis) == ""


def test_null_scenario_truth_has_no_effect(tmp_path, study):
    settings = dict(scale=0.02, n_practices=6, seed=5, scenario="null")
    generate_population(tmp_path, study, progress=False, **settings)
    generate_area(AREA, tmp_path, study, progress=False, **settings)
    truth = pd.read_parquet(tmp_path / f"ground_truth_{AREA}_values.parquet")
    assert truth["value_n"].sum() > 0
    assert (truth["value_n"] == truth["value_n_counterfactual"]).all()
    assert (truth["value_sum"] == truth["value_sum_counterfactual"]).all()


def test_its_of_the_first_wave_against_its_truth(widening_extract):
    """The controlled ITS's Q1 - Q5 effect at the last horizon, against the truth of the first wave's pooled series
    (mean with minus mean without the programme, Q1 minus Q5), and its sentence."""
    out, analysis = widening_extract
    truth = pd.read_parquet(out / f"ground_truth_{AREA}_values.parquet")
    truth["month"] = truth["month"].astype("datetime64[s]")
    start = analysis.panel["programme_start"].min()
    horizon = max(analysis.settings.its_horizons)
    month = start + pd.DateOffset(months=horizon)
    wave = analysis.panel.loc[analysis.panel["programme_start"] == start, "practice_id"].unique()
    cells = truth[truth["practice_id"].isin(wave) & (truth["month"] == month)].groupby("imd_quintile")[
        ["value_n", "value_sum", "value_n_counterfactual", "value_sum_counterfactual"]].sum()
    effect = (cells["value_sum"] / cells["value_n"]
              - cells["value_sum_counterfactual"] / cells["value_n_counterfactual"])
    e = report.its_effects(analysis)
    row = e[(e["group"] == "contrast") & (e["horizon"] == horizon)].iloc[0]
    assert row["ci_lower"] < effect[1] - effect[5] < row["ci_upper"]
    assert effect[1] - effect[5] > 0  # the planted widening: the least deprived fell more
    assert f"{row['estimate']:.2f} mmol/mol" in report.its_sentence(analysis)
    assert f"{len(wave)} practices of the first wave" in report.its_sentence(analysis)
