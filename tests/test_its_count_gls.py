"""The count default's iteratively reweighted GLS (:mod:`beyond_averages.its.count_gls`): a series on which it runs
away stops with a message that says so, not with a linear-algebra error."""

import numpy as np
import pandas as pd
import pytest

from beyond_averages.its import SegmentedRegression
from beyond_averages.its.count_gls import CountGLSError

# Replicate 249's null series of `bench/its_calibration.py --settings nb_ar0.6_sd0.3` (seed 20261202): negative
# binomial counts around 200 a month with an AR(1) part of SD 0.3 on the log scale. The first REML step fits an
# AR coefficient at its bound (0.9993) with a white share of 0.004, and the reweighting then runs away.
RUNAWAY = [169, 174, 216, 162, 140, 135, 252, 208, 200, 116, 223, 171, 309, 189, 192, 231, 270, 266, 296, 207, 164,
           291, 240, 201, 278, 247, 308, 341, 183, 403, 309, 309, 341, 341, 253, 259, 204, 199, 256, 283, 340, 154,
           238, 178, 270, 232, 312, 220, 460, 233, 308, 222, 232, 245, 251, 209, 171, 154, 239, 226, 265, 199, 224,
           271, 202, 318, 354, 171, 276, 227, 192, 159, 271, 209, 308, 239, 306, 425, 280, 282, 258, 425, 426, 798]


def _series(counts) -> pd.DataFrame:
    return pd.DataFrame({"month": pd.date_range("2018-01-01", periods=len(counts), freq="MS"),
                         "numerator": np.asarray(counts, float), "denominator": 1000.0})


def test_a_runaway_count_gls_says_what_happened():
    with pytest.raises(CountGLSError, match=r"ran away at step \d+ .*AR 1\.00, white share 0\.00.*newey_west"):
        SegmentedRegression(_series(RUNAWAY), pd.Timestamp("2022-01-01"), family="poisson", autocorrelation="gls")
    # the same series with the option the message names fits
    fit = SegmentedRegression(_series(RUNAWAY), pd.Timestamp("2022-01-01"), family="quasipoisson",
                              autocorrelation="newey_west")
    assert np.isfinite(fit.tidy().set_index("term").loc["slope", "std_error"])
