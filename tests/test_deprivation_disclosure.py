"""IMD quintile boundaries (defined once) and statistical disclosure control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.deprivation import imd_quintile_from_decile, imd_quintile_from_rank
from beyond_averages.disclosure import DisclosureRules, check_released, is_released, release_counts, round_count


def test_quintile_from_decile_boundaries():
    assert list(imd_quintile_from_decile(np.arange(1, 11))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert imd_quintile_from_decile(3) == 2
    assert np.isnan(imd_quintile_from_decile(np.array([np.nan]))[0])
    for bad in (0, 11, 2.5):
        with pytest.raises(ValueError, match="whole number from 1 to 10"):
            imd_quintile_from_decile([bad])


def test_quintile_from_rank_boundaries():
    # 32,844 LSOAs: quintile 1 = ranks 1..6568 (32,844 / 5 = 6,568.8).
    assert imd_quintile_from_rank(1) == 1
    assert imd_quintile_from_rank(6568) == 1
    assert imd_quintile_from_rank(6569) == 2
    assert imd_quintile_from_rank(32844) == 5
    with pytest.raises(ValueError):
        imd_quintile_from_rank(32845)


def test_round_and_redact():
    out = round_count([0, 5, 7, 8, 12, 13, 102, 1003])
    assert np.isnan(out[:3]).all()
    assert list(out[3:]) == [10, 10, 15, 100, 1005]
    custom = round_count([10, 11, 23], DisclosureRules(redact_at_or_below=10, round_to=10))
    assert np.isnan(custom[0]) and list(custom[1:]) == [10, 20]


def test_release_pairs_suppresses_complements_and_recomputes_rates():
    frame = pd.DataFrame({"numerator": [3, 50, 98, 40, 600], "denominator": [100, 52, 100, 5, 1000]})
    out = release_counts(frame)
    assert np.isnan(out.loc[0, "numerator"])          # small numerator
    assert np.isnan(out.loc[1, "numerator"])          # small complement (52 - 50 = 2)
    assert np.isnan(out.loc[2, "numerator"])          # small complement (100 - 98)
    assert np.isnan(out.loc[3, "denominator"]) and np.isnan(out.loc[3, "numerator"])
    assert out.loc[4, ["numerator", "denominator"]].tolist() == [600, 1000]
    assert out.loc[4, "rate"] == 60.0
    # Rates come from released counts: 33/67 raw -> 35/65 released.
    one = release_counts(pd.DataFrame({"numerator": [33], "denominator": [67]}))
    assert one.loc[0, "rate"] == pytest.approx(100 * 35 / 65)
    check_released(out, ["numerator", "denominator"])


def test_check_released_catches_raw_counts():
    assert is_released([10, 15, np.nan])
    assert not is_released([10, 7])
    assert not is_released([12])
    with pytest.raises(ValueError, match="column 'n'"):
        check_released(pd.DataFrame({"n": [3]}), ["n"])
