"""The sparse-quintile rule of the within-practice gap and SII (did/sparse.py), on hand-built practices.

Four practices, three months (January to March 2021), adoption in March 2021:

- P1 (adopter) and P4 (never): every quintile has 100 eligible patients, rates 50..90% and 55..75%;
- P2 (adopter): Q5 has 3 eligible patients in January (2 covered), none in February, 6 in March (4 covered);
- P3 (never): no eligible patient in Q1 in any month.

Every expected value below is computed by hand (or by the weighted least-squares formula written out here), not by
the package's equity engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.did import GroupTimeATT
from beyond_averages.did.panel import within_practice_inequality
from beyond_averages.did.sparse import DEFAULT_RULE, SparseRule, practices_kept

MONTHS = pd.to_datetime(["2021-01-01", "2021-02-01", "2021-03-01"])
START = pd.Timestamp("2021-03-01")
FULL1 = [(50, 100), (60, 100), (70, 100), (80, 100), (90, 100)]
FULL4 = [(55, 100), (60, 100), (65, 100), (70, 100), (75, 100)]
P2_Q5 = {MONTHS[0]: (2, 3), MONTHS[1]: (0, 0), MONTHS[2]: (4, 6)}
P2_Q1_Q4 = [(40, 100), (45, 100), (50, 100), (60, 80)]
P3 = [(0, 0), (30, 100), (40, 100), (50, 100), (60, 100)]


def _panel() -> pd.DataFrame:
    rows = []
    for month in MONTHS:
        cells = {"P1": (FULL1, START), "P2": (P2_Q1_Q4 + [P2_Q5[month]], START), "P3": (P3, pd.NaT),
                 "P4": (FULL4, pd.NaT)}
        for pid, (counts, start) in cells.items():
            for q, (num, den) in enumerate(counts, start=1):
                rows.append({"practice_id": pid, "month": month, "imd_quintile": q, "numerator": num,
                             "denominator": den, "programme_start": start})
    return pd.DataFrame(rows)


def wls_sii(counts) -> float:
    """SII by hand: population-weighted least squares of the rate (%) on the cumulative-population midpoint rank of
    the quintiles present (most deprived first)."""
    num = np.array([c[0] for c in counts], float)
    den = np.array([c[1] for c in counts], float)
    x = (np.cumsum(den) - den / 2) / den.sum()
    y = 100 * num / den
    xm, ym = np.average(x, weights=den), np.average(y, weights=den)
    return float(np.sum(den * (x - xm) * (y - ym)) / np.sum(den * (x - xm) ** 2))


EXTREMES = SparseRule(1)  # Q5 - Q1 alone, any eligible patient counts


def _measures(rule=EXTREMES) -> pd.DataFrame:
    return within_practice_inequality(_panel(), rule=rule).set_index(["practice_id", "month"])


def test_full_practices_by_hand():
    m = _measures()
    for month in MONTHS:
        assert m.loc[("P1", month), "gap"] == pytest.approx(40.0)
        assert m.loc[("P1", month), "sii"] == pytest.approx(50.0)  # 10 pp per 0.2 of rank
        assert m.loc[("P4", month), "gap"] == pytest.approx(20.0)
        assert m.loc[("P4", month), "sii"] == pytest.approx(25.0)
    assert m.loc[("P1", MONTHS[0]), "denominator"] == 500


def test_extreme_quintiles_any_patient_counts():
    m = _measures()
    jan, feb, mar = (("P2", mo) for mo in MONTHS)
    assert m.loc[jan, "gap"] == pytest.approx(100 * 2 / 3 - 40)  # 3 patients in Q5 are enough by default
    assert np.isnan(m.loc[feb, "gap"])                           # no Q5 patient: no gap
    assert m.loc[mar, "gap"] == pytest.approx(100 * 4 / 6 - 40)
    assert m.loc[jan, "sii"] == pytest.approx(wls_sii(P2_Q1_Q4 + [(2, 3)]))
    assert m.loc[feb, "sii"] == pytest.approx(wls_sii(P2_Q1_Q4))  # SII on the four quintiles present
    assert m.loc[feb, "denominator"] == 380
    for month in MONTHS:  # Q1 empty: no gap, SII on Q2..Q5
        assert np.isnan(m.loc[("P3", month), "gap"])
        assert m.loc[("P3", month), "sii"] == pytest.approx(wls_sii(P3[1:]))


def test_min_denominator_drops_small_quintiles_from_gap_and_sii():
    m = _measures(SparseRule(min_denominator=5))
    jan, mar = ("P2", MONTHS[0]), ("P2", MONTHS[2])
    assert np.isnan(m.loc[jan, "gap"])                           # 3 < 5: Q5 does not count
    assert m.loc[mar, "gap"] == pytest.approx(100 * 4 / 6 - 40)  # 6 >= 5: it does
    assert m.loc[jan, "sii"] == pytest.approx(wls_sii(P2_Q1_Q4))
    assert m.loc[mar, "sii"] == pytest.approx(wls_sii(P2_Q1_Q4 + [(4, 6)]))
    assert m.loc[jan, "denominator"] == 383                      # dropped patients still count in the total


def test_pooling_adjacent_quintiles():
    m = _measures(SparseRule(pool="adjacent"))
    assert m.loc[("P1", MONTHS[0]), "gap"] == pytest.approx(100 * (170 / 200 - 110 / 200))  # 30: (Q4+Q5) - (Q1+Q2)
    assert m.loc[("P2", MONTHS[0]), "gap"] == pytest.approx(100 * (62 / 83 - 85 / 200))
    assert m.loc[("P2", MONTHS[1]), "gap"] == pytest.approx(100 * (60 / 80 - 85 / 200))
    assert m.loc[("P3", MONTHS[0]), "gap"] == pytest.approx(100 * (110 / 200 - 30 / 100))  # Q1+Q2 is Q2 alone
    assert m.loc[("P2", MONTHS[1]), "sii"] == pytest.approx(wls_sii(P2_Q1_Q4))  # the SII keeps the quintiles
    strict = _measures(SparseRule(min_denominator=90, pool="adjacent"))
    assert np.isnan(strict.loc[("P2", MONTHS[0]), "gap"])  # Q4+Q5 pooled: 83 < 90
    assert strict.loc[("P2", MONTHS[0]), "sii"] == pytest.approx(wls_sii(P2_Q1_Q4[:3]))  # Q4 (80), Q5 (3) out


def test_practices_kept_per_rule():
    rules = (EXTREMES, SparseRule(5), DEFAULT_RULE, SparseRule(90, "adjacent"))
    kept = practices_kept(_panel(), rules).set_index(["min_denominator", "pool", "measure"])
    expected = {  # (practices, adopters) with the measure in every month
        (1, "none", "gap"): (2, 1), (1, "none", "sii"): (4, 2),
        (5, "none", "gap"): (2, 1), (5, "none", "sii"): (4, 2),
        (1, "adjacent", "gap"): (4, 2), (1, "adjacent", "sii"): (4, 2),
        (90, "adjacent", "gap"): (3, 1), (90, "adjacent", "sii"): (4, 2),
    }
    for key, (practices, adopters) in expected.items():
        assert (kept.loc[key, "practices"], kept.loc[key, "adopters"]) == (practices, adopters), key
    assert (kept["practices_total"] == 4).all()
    assert kept.loc[(1, "none", "gap"), "practice_months_with_value"] == pytest.approx(8 / 12)  # P1 x3, P4 x3, P2 x2
    assert kept.loc[(1, "none", "gap"), "rule"] == "gap of Q5 minus Q1 alone, at least 1 eligible patient"
    assert kept.loc[(90, "adjacent", "gap"), "rule"] == "gap of Q4–Q5 minus Q1–Q2, at least 90 eligible patients"


@pytest.mark.filterwarnings("ignore:only . treated clusters")  # 2 adopters: the warning is expected
def test_the_did_keeps_exactly_the_counted_practices():
    # The group-time ATT balances the panel: the practices it drops are those the count leaves out.
    panel = _panel()
    for rule, n_kept in ((EXTREMES, 2), (DEFAULT_RULE, 4)):
        ineq = within_practice_inequality(panel, rule=rule)
        fit = GroupTimeATT(ineq, outcome="gap", weights="denominator")
        assert fit.n_units_dropped == 4 - n_kept
        kept = practices_kept(panel, (rule,))
        assert kept.loc[kept["measure"] == "gap", "practices"].item() == n_kept


def test_default_rule_pools_adjacent_quintiles_and_weights_the_gap_by_its_patients():
    assert DEFAULT_RULE == SparseRule(1, "adjacent")
    m = within_practice_inequality(_panel()).set_index(["practice_id", "month"])
    # P2 in January: Q1+Q2 = 200 patients, Q4+Q5 = 80 + 3 = 83; weight 200 * 83 / 283.
    assert m.loc[("P2", MONTHS[0]), "gap"] == pytest.approx(100 * (62 / 83 - 85 / 200))
    assert m.loc[("P2", MONTHS[0]), "gap_weight"] == pytest.approx(200 * 83 / 283)
    assert m.loc[("P1", MONTHS[0]), "gap_weight"] == pytest.approx(100.0)  # 200 and 200
    assert m.loc[("P3", MONTHS[0]), "gap_weight"] == pytest.approx(100 * 200 / 300)  # Q1 empty: Q2 alone, 100
    extremes = _measures()
    assert extremes.loc[("P2", MONTHS[1]), "gap_weight"] == 0  # no Q5 patient: no gap, no weight
    assert extremes.loc[("P2", MONTHS[0]), "gap_weight"] == pytest.approx(100 * 3 / 103)


@pytest.mark.filterwarnings("ignore:only . treated clusters")
def test_the_gap_did_weights_practices_by_the_patients_behind_their_gaps():
    # One adoption month, one post month: each adopter's effect is its gap change minus the comparison mean's, and
    # the ATT averages adopters by their mean gap_weight (the analysis maps "gap" to that column).
    from beyond_averages.did.panel import inequality_weights
    assert inequality_weights("gap", "denominator") == "gap_weight"
    assert inequality_weights("sii", "denominator") == "denominator"
    assert inequality_weights("gap", None) is None
    ineq = within_practice_inequality(_panel())
    fit = GroupTimeATT(ineq, outcome="gap", weights="gap_weight", comparison="never_treated")
    g = ineq.set_index(["practice_id", "month"])["gap"]
    w = ineq.groupby("practice_id")["gap_weight"].mean()
    change = {p: g[(p, MONTHS[2])] - g[(p, MONTHS[1])] for p in ("P1", "P2", "P3", "P4")}
    control = (w["P3"] * change["P3"] + w["P4"] * change["P4"]) / (w["P3"] + w["P4"])
    expected = (w["P1"] * (change["P1"] - control) + w["P2"] * (change["P2"] - control)) / (w["P1"] + w["P2"])
    assert fit.tidy()["estimate"].iloc[0] == pytest.approx(expected)


def test_bad_rules():
    with pytest.raises(ValueError, match="min_denominator must be a whole number >= 1"):
        SparseRule(min_denominator=0)
    with pytest.raises(ValueError, match="pool must be"):
        SparseRule(pool="pairs")


def test_the_chapters_gap_label_names_the_default_rules_sides():
    from beyond_averages import labels
    sides = DEFAULT_RULE.name.split(",")[0].removeprefix("gap of ")
    assert labels.WITHIN_PRACTICE_MEASURES["gap"] == f"Gap, {sides}"
