"""Direct age standardisation against a hand-worked case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.standardise import ESP2013, directly_standardise


def test_esp2013_sums_to_100000():
    assert ESP2013.sum() == 100_000 and len(ESP2013) == 19


def test_hand_worked_two_bands():
    # Bands 9 (45-49, weight 7000) and 18 (90+, weight 1000): weights 7/8 and 1/8.
    frame = pd.DataFrame({"g": ["a", "a"], "age_band": [9, 18], "numerator": [50, 90], "denominator": [100, 100]})
    out = directly_standardise(frame, by=["g"]).iloc[0]
    assert out["std_rate"] == pytest.approx(100 * (7 / 8 * 0.5 + 1 / 8 * 0.9))
    assert out["crude_rate"] == pytest.approx(70.0)
    var = (7 / 8) ** 2 * 50 / 100**2 + (1 / 8) ** 2 * 90 / 100**2
    from scipy import stats
    o_low = stats.chi2.ppf(0.025, 280) / 2
    assert out["ci_lower"] == pytest.approx(100 * (0.55 + np.sqrt(var / 140) * (o_low - 140)))
    assert out["ci_lower"] < out["std_rate"] < out["ci_upper"]


def test_same_age_specific_rates_give_same_standardised_rate():
    a = pd.DataFrame({"g": "a", "age_band": [9, 10, 11], "numerator": [10, 20, 30], "denominator": [100, 100, 100]})
    b = a.assign(g="b", numerator=[100, 40, 3], denominator=[1000, 200, 10])
    out = directly_standardise(pd.concat([a, b]), by=["g"]).set_index("g")
    assert out.loc["a", "std_rate"] == pytest.approx(out.loc["b", "std_rate"])
    assert out.loc["a", "crude_rate"] != pytest.approx(out.loc["b", "crude_rate"])
