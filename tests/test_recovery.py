"""Planted-effect recovery judged against the truth itself: the DiD and ITS chapters' headline estimators on the
compendium's own synthetic extract, beside the exact effect the generator wrote to ``ground_truth_<area>.parquet``.

The estimands and the comparison code live in :mod:`beyond_averages.recovery` (shared with
``bench/recovery_study.py``); the conclusion rule in :mod:`beyond_averages.report.conclusions`. Every judgement
below compares an estimate with its truth directly: nothing is netted out, so an error that would mislead a reader
(adopters' counterfactual trends not parallel to the comparison's, a wrong counterfactual) counts against the
estimator. One check uses the generator's common random numbers, and only to validate the *truth computation*: the
null scenario's numerators are the other scenarios' counterfactual numerators, so for a linear estimator (the
group-time ATT, on quintile rates and on the within-practice gap and SII) estimate(scenario) - estimate(null) must
equal the computed truth to rounding; if it does not, the estimand code is wrong.

At the fast-test size (48 practices, 19 adopters) the Q1 - Q5 contrasts have SEs about as large as their truths
(about 1 pp for the DiD, 3 pp for the ITS at 24 months), so the chapter's conclusion on them is mostly "no evidence
of change" whatever was planted: the tests assert that no headline conclusion points the *wrong* way, and the share
of correct conclusions at larger scales is measured by ``bench/recovery_study.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from beyond_averages import recovery
from beyond_averages.report.conclusions import NARROWED, NO_CHANGE, WIDENED, conclude, judge_conclusions

# ~120,000 patients on 48 practices (19 adopters in 3 waves): each scenario takes a few seconds to generate. Small
# extracts can lose a month of a wave-1 quintile series to disclosure redaction (the ITS then stops, by design: e.g.
# scale 0.07, 60 practices, seed 20240917); in this one every series survives.
FAST = dict(scale=0.06, n_practices=48)
FAST_SEED = 7
FAST_SCENARIOS = ("null", "narrowing", "widening", "selection")
Z_TOL = 3.0  # |estimate - truth| < 3 SE: a correct estimator with a calibrated SE fails this ~0.3% of the time
DID_TARGETS = ["1", "2", "3", "4", "5", "1-5", "gap", "sii"]
OPPOSITE = {NARROWED: WIDENED, WIDENED: NARROWED}


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "few treated clusters": expected at this size
        rec = recovery.seed_recovery(FAST_SEED, FAST_SCENARIOS, FAST, work_dir=tmp_path_factory.mktemp("recovery"))
    assert "error" not in rec or rec["error"].isna().all(), rec.get("error")
    return judge_conclusions(rec)


def _rows(rec, scenario, method, horizon=None):
    r = rec[(rec["scenario"] == scenario) & (rec["method"] == method)]
    r = r[r["horizon"].isna()] if horizon is None else r[r["horizon"] == horizon]
    return r.set_index("target")


def test_every_headline_estimand_is_recorded(fast):
    for scenario in FAST_SCENARIOS:
        assert _rows(fast, scenario, "group_time_att").index.tolist() == DID_TARGETS
        for h in recovery.ITS_HORIZONS:
            for method in ("its_controlled", "its_uncontrolled"):
                assert sorted(_rows(fast, scenario, method, h).index) == sorted(DID_TARGETS[:6])
    assert fast[["estimate", "ci_lower", "ci_upper", "truth"]].notna().all().all()
    assert _rows(fast, "null", "group_time_att").loc["1-5", "estimand"] == "group_time_att Q1 - Q5"
    assert _rows(fast, "null", "its_controlled", 24).loc["1", "estimand"] == "its_controlled Q1 at 24 months"


def test_planted_truths(fast):
    assert np.allclose(fast.loc[fast["scenario"] == "null", "truth"], 0.0)
    # Narrowing plants 6 vs 3 pp (Q1 vs Q5), widening 2 vs 5, selection narrowing's: the truths have those signs.
    # Observed with this seed (DiD, pp): narrowing Q1 - Q5 +1.09, gap -1.06, SII -0.89; widening -1.24, +1.04,
    # +0.94; selection +0.97, -1.05, -1.17.
    for scenario, sign in (("narrowing", 1), ("widening", -1), ("selection", 1)):
        did = _rows(fast, scenario, "group_time_att")
        assert np.sign(did.loc["1-5", "truth"]) == sign and abs(did.loc["1-5", "truth"]) > 0.5
        assert np.sign(did.loc["gap", "truth"]) == -sign and abs(did.loc["gap", "truth"]) > 0.5
        assert np.sign(did.loc["sii", "truth"]) == -sign and abs(did.loc["sii", "truth"]) > 0.5
        assert (did.loc[["1", "2", "3", "4", "5"], "truth"] > 0.2).all()
        assert np.sign(_rows(fast, scenario, "its_controlled", 24).loc["1-5", "truth"]) == sign
    d = _rows(fast, "narrowing", "group_time_att")
    assert d.loc["1-5", "truth"] == pytest.approx(d.loc["1", "truth"] - d.loc["5", "truth"])


@pytest.mark.parametrize("scenario", ["narrowing", "widening"])
def test_truth_computation_matches_the_linear_estimator_exactly(fast, scenario):
    # Validates did_truth and inequality_truth (see the module docstring); not a judgement of the estimator.
    est = _rows(fast, scenario, "group_time_att")["estimate"] - _rows(fast, "null", "group_time_att")["estimate"]
    np.testing.assert_allclose(est.to_numpy(), _rows(fast, scenario, "group_time_att")["truth"].to_numpy(), atol=1e-8)


@pytest.mark.parametrize("scenario", FAST_SCENARIOS)
def test_did_headline_within_3_se_of_the_truth_itself(fast, scenario):
    did = _rows(fast, scenario, "group_time_att")
    z = (did["estimate"] - did["truth"]) / did["std_error"]
    assert (z.abs() < Z_TOL).all(), did[["estimate", "std_error", "truth"]]
    # Observed with this seed: every one of the 8 rows' 95% CIs covers its truth, in every scenario (32 of 32).
    # At most one miss of 8 per scenario is allowed (a calibrated CI misses 2 or more of 8 in about 6% of draws);
    # coverage itself is measured over seeds by bench/recovery_study.py.
    assert (~did["covered"]).sum() <= 1, did[["estimate", "ci_lower", "ci_upper", "truth"]]


def test_controlled_its_covers_the_truth_itself_at_24_months(fast):
    # The ITS chapter's headline at its longest horizon: every quintile's and the contrast's 95% CI covers the truth
    # in every scenario (observed 24 of 24); the uncontrolled fits, which carry the COVID-19 recovery into the
    # effect, miss it in more than half the cells (observed 13 of 24), which is why they are not the headline.
    ctl = pd.concat([_rows(fast, s, "its_controlled", 24) for s in FAST_SCENARIOS])
    unc = pd.concat([_rows(fast, s, "its_uncontrolled", 24) for s in FAST_SCENARIOS])
    assert ctl["covered"].all(), ctl[["scenario", "estimate", "ci_lower", "ci_upper", "truth"]]
    assert unc["covered"].mean() < 0.5


@pytest.mark.parametrize("scenario", FAST_SCENARIOS)
def test_no_headline_conclusion_points_the_wrong_way(fast, scenario):
    head = pd.concat([_rows(fast, scenario, "group_time_att"), _rows(fast, scenario, "its_controlled", 24)])
    for row in head.itertuples():
        assert row.conclusion != OPPOSITE.get(row.expected), row
        if row.expected == NO_CHANGE:
            assert row.conclusion == NO_CHANGE, row  # null: no rejection anywhere in this draw


def test_conclusion_sentences_for_the_planted_directions(fast):
    # What a reader of each scenario's chapter would be told about the Q1 - Q5 difference (DiD headline) at this size.
    rows = pd.concat([_rows(fast, s, "group_time_att").loc[["1-5"]] for s in FAST_SCENARIOS])
    text = conclude(rows)["sentence"].tolist()
    assert [t.split(":")[0] for t in text] == ["group_time_att Q1 - Q5"] * 4
    assert all(t.endswith("so there is no evidence that the inequality changed.") for t in text), text
    # The expected conclusions themselves follow the planted direction.
    assert rows["expected"].tolist() == [NO_CHANGE, NARROWED, WIDENED, NARROWED]
    q1 = conclude(_rows(fast, "narrowing", "group_time_att").loc[["1"]])["sentence"].item()
    assert q1.startswith("group_time_att Q1: +1.25 percentage points (95% CI ") and q1.endswith(
        "the interval excludes 0, so the indicator increased.")


def test_recovery_summary_coverage_and_conclusions(fast):
    s = recovery.recovery_summary(fast)
    row = s[(s["scenario"] == "narrowing") & (s["method"] == "group_time_att") & (s["target"] == "1-5")].iloc[0]
    assert np.isnan(row["horizon"])
    assert row["seeds"] == 1 and row["coverage"] == 1.0 and row["coverage_mc_se"] == 0.0
    assert row["correct"] == 0.0  # "no evidence of change" where narrowing was planted
    assert row["bias"] == pytest.approx(row["estimate"] - row["truth"])


# ---------------------------------------------------------------------------------------------------------------
# Slow: medium scale (scale 0.3, 285 practices, the study seed), all five scenarios (make bench runs the study)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rec = recovery.seed_recovery(recovery.RECOVERY_SEEDS[0], recovery.SCENARIOS, recovery.MEDIUM,
                                     work_dir=tmp_path_factory.mktemp("recovery_medium"))
    return judge_conclusions(rec)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", recovery.SCENARIOS)
def test_medium_scale_headline_against_the_truth_itself(medium, scenario):
    did = _rows(medium, scenario, "group_time_att")
    z = (did["estimate"] - did["truth"]) / did["std_error"]
    assert (z.abs() < Z_TOL).all(), did[["estimate", "std_error", "truth"]]
    head = pd.concat([did, _rows(medium, scenario, "its_controlled", 24)])
    assert not any(r.conclusion == OPPOSITE.get(r.expected) for r in head.itertuples()), head
    # With the study seed every headline 95% CI (8 DiD + 6 controlled ITS rows per scenario) covers the truth itself
    # (observed 70 of 70); the Q1 - Q5 conclusion is right in narrowing (+1.30, CI 0.30 to 2.29, truth +0.98) and
    # selection, and "no evidence of change" in widening (-0.80, CI -1.75 to 0.16, truth -1.11).
    assert head["covered"].all(), head[["estimate", "ci_lower", "ci_upper", "truth"]]
