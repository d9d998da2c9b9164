"""The synthetic extract: determinism, shape, calibration and the planted truth."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import yaml

from beyond_averages import config, paths
from beyond_averages.deprivation import imd_quintile_from_decile
from beyond_averages.synth import assign_programme, generate_area, generate_population

from conftest import SMALL


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def test_same_seed_same_files_bit_for_bit(tmp_path, study):
    settings = dict(scale=0.004, n_practices=6, seed=7, scenario="uniform")
    for run in ("a", "b"):
        generate_population(tmp_path / run, study, progress=False, **settings)
        generate_area("diabetes_care", tmp_path / run, study, progress=False, **settings)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate_population(tmp_path / "c", study, progress=False, **{**settings, "seed": 8})
    assert _digest(tmp_path / "a")["patients.parquet"] != _digest(tmp_path / "c")["patients.parquet"]


def test_population_shape_and_deprivation_mix(small_extract):
    patients = pd.read_parquet(small_extract / "patients.parquet")
    practices = pd.read_parquet(small_extract / "practices.parquet")
    assert len(practices) == SMALL["n_practices"]
    assert set(patients.columns) >= {"patient_id", "practice_id", "sex", "birth_date", "ethnicity", "lsoa_code",
                                     "imd_decile", "registration_start", "registration_end", "death_date"}
    assert patients["patient_id"].is_unique
    q = pd.Series(imd_quintile_from_decile(patients["imd_decile"].astype(float).to_numpy())).value_counts(normalize=True)
    # East London skews deprived (NEL residents: 24% Q1, 42% Q2, 5% Q5): the extract must too.
    assert q[1] + q[2] > 0.55 and q[5] < 0.12
    # Within-practice variation: most practices have patients in at least three quintiles.
    per_practice = patients.assign(q=imd_quintile_from_decile(patients["imd_decile"].astype(float).to_numpy())) \
        .groupby("practice_id")["q"].nunique()
    assert (per_practice >= 3).mean() > 0.8
    # List turnover: some leave, some die, some join during the window.
    assert patients["registration_end"].notna().mean() > 0.2
    assert patients["death_date"].notna().sum() > 0
    assert (pd.to_datetime(patients["registration_start"]) >= "2017-01-01").mean() > 0.2


def test_programme_waves_and_share(small_extract):
    area = config.load_area("hypertension_case_finding")
    prog = pd.read_parquet(small_extract / "programme_hypertension_case_finding.parquet")
    assert len(prog) == round(area.programme.share_adopting * SMALL["n_practices"])
    assert sorted(pd.to_datetime(prog["programme_start"]).dt.date.unique()) == list(area.programme.waves)
    assert prog["practice_id"].is_unique


def _truth_effect(truth, programme, quintile):
    t = truth.merge(programme, on="practice_id")
    post = t[(t["month"] >= t["programme_start"] + pd.DateOffset(months=12)) & (t["imd_quintile"] == quintile)]
    return 100 * (post["numerator"].sum() - post["numerator_counterfactual"].sum()) / post["denominator"].sum()


@pytest.mark.parametrize("name", ["hypertension_case_finding", "cervical_screening"])
def test_planted_narrowing_effect_in_ground_truth(small_extract, name):
    truth = pd.read_parquet(small_extract / f"ground_truth_{name}.parquet")
    programme = pd.read_parquet(small_extract / f"programme_{name}.parquet")
    effects = {q: _truth_effect(truth, programme, q) for q in (1, 5)}
    # Narrowing: planted +6 pp in Q1 against +3 pp in Q5 on steady-state coverage; realised effects lag but
    # keep the order and are positive.
    assert effects[1] > effects[5] > 0
    never = truth[~truth["practice_id"].isin(programme["practice_id"])]
    assert (never["numerator"] == never["numerator_counterfactual"]).all()


def test_null_scenario_has_no_effect(tmp_path, study):
    settings = dict(scale=0.004, n_practices=8, seed=3, scenario="null")
    generate_population(tmp_path, study, progress=False, **settings)
    generate_area("childhood_immunisations", tmp_path, study, progress=False, **settings)
    truth = pd.read_parquet(tmp_path / "ground_truth_childhood_immunisations.parquet")
    assert (truth["numerator"] == truth["numerator_counterfactual"]).all()


def test_planted_baseline_gradient(study):
    """Same women, same practice, only IMD differs: coverage follows the planted quintile levels."""
    from beyond_averages.synth.events import simulate_area

    area = config.load_area("cervical_screening")
    n = 6000
    patients = pd.DataFrame({
        "patient_id": np.arange(n), "sex": "female", "birth_date": pd.Timestamp("1985-01-01"),
        "imd_decile": pd.array([1] * (n // 2) + [10] * (n // 2), dtype="Int8"),
        "registration_start": pd.Timestamp("2000-01-01"), "registration_end": pd.NaT, "death_date": pd.NaT,
    })
    _, truth, _ = simulate_area(area, study, patients, 0.0, None, "null", np.random.default_rng(1))
    pre = truth[truth["month_index"] < 2020 * 12 + 2].groupby("imd_quintile")[["numerator", "denominator"]].sum()
    rate = 100 * pre["numerator"] / pre["denominator"]
    planted = 100 * (area.synthetic.baseline_by_quintile[5] - area.synthetic.baseline_by_quintile[1])
    # Women aged 32-35 are below the reference age 37 (age effect) and the look-back fills from age 24.5:
    # levels sit a little below baseline, the Q5 - Q1 difference within a few tenths of the planted 5 pp.
    assert rate[5] - rate[1] == pytest.approx(planted, abs=1.5)
    assert 55 < rate[1] < 70


def test_covid_dip_in_recording(small_extract):
    events = pd.read_parquet(small_extract / "events_cervical_screening.parquet")
    area = config.load_area("cervical_screening")
    tests = events[events["code"].isin(area.codes("cervical_screening_test"))]
    month = pd.to_datetime(tests["event_date"]).dt.to_period("M")
    counts = month.value_counts()
    april_2020 = counts[pd.Period("2020-04", "M")]
    april_2019 = counts[pd.Period("2019-04", "M")]
    assert april_2020 < 0.3 * april_2019


def test_committed_data_dictionary_is_current():
    from beyond_averages import paths
    from beyond_averages.synth.dictionary import data_dictionary

    committed = (paths.DATA_SYNTHETIC / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert committed == data_dictionary(), "run `python -m beyond_averages.synth.dictionary`"


# -- the `selection` scenario: narrowing's effects, adopters chosen by their baseline level ----------------------
def test_selection_scenario_plants_narrowings_effects(tmp_path):
    area = config.load_area("hypertension_case_finding")
    assert area.synthetic.effects_pp["selection"] == area.synthetic.effects_pp["narrowing"] == {
        1: 6, 2: 5, 3: 4, 4: 3.5, 5: 3}  # areas/hypertension_case_finding.yaml
    # An area file may repeat narrowing's values, but not give others.
    data = yaml.safe_load(paths.area_file("hypertension_case_finding").read_text(encoding="utf-8"))
    data["synthetic"]["effects_pp"]["selection"] = {1: 6, 2: 5, 3: 4, 4: 3.5, 5: 3}
    (tmp_path / "hypertension_case_finding.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert config.load_area(tmp_path / "hypertension_case_finding.yaml").synthetic.effects_pp["selection"][4] == 3.5
    data["synthetic"]["effects_pp"]["selection"] = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    (tmp_path / "hypertension_case_finding.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(config.ConfigError, match=r"effects_pp.*selection must equal effects_pp.narrowing"):
        config.load_area(tmp_path / "hypertension_case_finding.yaml")


def test_selection_adopters_have_higher_baseline_level():
    area = config.load_area("hypertension_case_finding")
    ids = [f"P{i:04d}" for i in range(2000)]
    level = np.random.default_rng(3).normal(0, 0.25, size=len(ids))
    at_random = assign_programme(area, ids, seed=11)
    selected = assign_programme(area, ids, seed=11, level=level)
    assert len(selected) == len(at_random) == 800  # share_adopting 0.40, waves shared equally
    assert selected["programme_start"].value_counts().tolist() == [267, 267, 266]

    def gap_in_sd(programme):  # adopters' mean level minus the others', in SDs of the level
        adopt = np.isin(ids, programme["practice_id"])
        return (level[adopt].mean() - level[~adopt].mean()) / level.std()
    # Weights exp(z): drawing 40% without replacement moves adopters about 1 SD above the rest (observed 1.07;
    # at random, observed -0.03: SE of the difference of means about 0.046 SD).
    assert gap_in_sd(selected) > 0.8
    assert abs(gap_in_sd(at_random)) < 0.15
    with pytest.raises(ValueError, match="one finite value per practice"):
        assign_programme(area, ids, seed=11, level=level[:5])


def test_selection_extract_differs_from_narrowing_only_in_who_adopts(tmp_path, study):
    settings = dict(scale=0.01, n_practices=30, seed=4)
    generate_population(tmp_path, study, progress=False, scenario="narrowing", **settings)
    out = {}
    for scenario in ("narrowing", "selection"):
        generate_area("hypertension_case_finding", tmp_path, study, progress=False, scenario=scenario, **settings)
        out[scenario] = {name: pd.read_parquet(tmp_path / f"{name}_hypertension_case_finding.parquet")
                         for name in ("programme", "ground_truth", "planted_effects")}
    n, s = out["narrowing"], out["selection"]
    assert s["planted_effects"]["planted_effect_pp"].tolist() == n["planted_effects"]["planted_effect_pp"].tolist()
    assert len(s["programme"]) == len(n["programme"]) == 12
    assert set(s["programme"]["practice_id"]) != set(n["programme"]["practice_id"])
    # A practice that adopts in neither scenario is simulated identically (same draws, no effect) in both.
    never = sorted(set(n["ground_truth"]["practice_id"]) - set(n["programme"]["practice_id"])
                   - set(s["programme"]["practice_id"]))
    assert never
    pick = [t[t["practice_id"].isin(never)].reset_index(drop=True) for t in (n["ground_truth"], s["ground_truth"])]
    pd.testing.assert_frame_equal(pick[0], pick[1])
    assert (pick[1]["numerator"] == pick[1]["numerator_counterfactual"]).all()
