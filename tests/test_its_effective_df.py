"""The t reference of GLS ITS fits (issue 12): t(n_eff - k), with n_eff the effective number of observations under
the fitted error correlation (the calibrated default), or nlme's t(n - k)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.its import SegmentedRegression
from beyond_averages.its.inference import ARMAErrors, effective_n


def _errors(phi: float, white: float) -> ARMAErrors:
    return ARMAErrors("ar1_noise", (phi,), (), white, 1.0, 0.0, True)


def test_effective_n_by_hand():
    # Three consecutive months, pure AR(1) with phi 0.5: correlations 1, 0.5, 0.25; the sum over all pairs (i, j)
    # is 3 + 2 * (0.5 + 0.5 + 0.25) = 5.5, so n_eff = 3^2 / 5.5.
    assert effective_n(_errors(0.5, 0.0), np.array([0, 1, 2])) == pytest.approx(9 / 5.5)
    # Half of the variance white noise halves every off-diagonal correlation: 3 + 2 * 0.625 = 4.25.
    assert effective_n(_errors(0.5, 0.5), np.array([0, 1, 2])) == pytest.approx(9 / 4.25)
    # Independent errors: every observation counts; a gap in the months lowers the correlation it spans.
    assert effective_n(_errors(0.0, 1.0), np.arange(10)) == pytest.approx(10)
    assert effective_n(_errors(0.5, 0.0), np.array([0, 2])) == pytest.approx(4 / (2 + 2 * 0.25))
    # Negative correlation would give more than n: capped at n.
    assert effective_n(_errors(-0.5, 0.0), np.arange(5)) == pytest.approx(5)


def test_effective_df_is_the_default_and_widens_autocorrelated_fits():
    rng = np.random.default_rng(7)
    months = pd.date_range("2017-01-01", periods=84, freq="MS")
    e = np.zeros(84)
    for t in range(1, 84):
        e[t] = 0.7 * e[t - 1] + rng.normal()
    data = pd.DataFrame({"month": months, "y": 50 + 0.05 * np.arange(84) + e})
    fit = SegmentedRegression(data, months[48], outcome="y")
    nlme = SegmentedRegression(data, months[48], outcome="y", gls_df="residual")
    k = len(fit.fit_.params)
    assert nlme.fit_.df_resid == 84 - k
    assert 2 <= fit.fit_.df_resid < 84 - k
    assert fit.fit_.df_resid == pytest.approx(effective_n(fit.fit_.result, np.arange(84)) - k)
    # Same estimates and standard errors; only the reference distribution (so the interval) differs.
    assert np.allclose(fit.fit_.params, nlme.fit_.params) and np.allclose(fit.fit_.cov, nlme.fit_.cov)
    assert fit.fit_.quantile(0.05) > nlme.fit_.quantile(0.05)
