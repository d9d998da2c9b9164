"""Every estimator answers one result protocol (:mod:`beyond_averages.results`): ``tidy()``, ``summary()`` and
``effect_summary()`` are tidy frames (key columns, then estimate, std_error, ci_lower, ci_upper, p_value as floats),
``plot_data()`` is a frame, and no estimator draws.

One fitted example per estimator, on the package's own seeded simulators. Each tidy frame is also checked for
sense: finite estimates, ``ci_lower <= estimate <= ci_upper``, non-negative standard errors where present.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.did import EventStudy, GroupTimeATT, TwoWayFixedEffects, honest_from, simulate_staggered_panel
from beyond_averages.equity import SlopeIndexOfInequality
from beyond_averages.its import (
    ControlledITS, ControlledQuintileITS, QuintileContrastITS, SegmentedRegression, StackedControlledITS,
    simulate_quintile_series,
)
from beyond_averages.results import TIDY_COLUMNS, Estimator, check_tidy

T0 = pd.Timestamp("2021-04-01")


def _its_series():
    return simulate_quintile_series("narrowing", seed=3)


def _arms():
    """Programme and comparison arms by quintile: the comparison arm is the same design with no programme."""
    treated = simulate_quintile_series("narrowing", seed=4).assign(arm="programme")
    control = simulate_quintile_series("null", seed=5).assign(arm="comparison")
    return pd.concat([treated, control], ignore_index=True)


def _staggered():
    return simulate_staggered_panel(n_units=120, n_periods=8, waves=(4, 6), wave_shares=(0.25, 0.25), seed=11)


DID = dict(outcome="y", unit="unit", time="period", first_treated="first_treated")

ESTIMATORS = {
    "SegmentedRegression": lambda: SegmentedRegression(_its_series().query("imd_quintile == 1"), T0,
                                                       family="gaussian"),
    "QuintileContrastITS": lambda: QuintileContrastITS(_its_series(), T0, family="gaussian", autocorrelation="gls"),
    "ControlledITS": lambda: ControlledITS(_arms().query("imd_quintile == 1"), T0, family="gaussian"),
    "ControlledQuintileITS": lambda: ControlledQuintileITS(_arms(), T0, autocorrelation="gls"),
    "StackedControlledITS": lambda: StackedControlledITS(_arms().assign(wave=1), {1: T0}),
    "TwoWayFixedEffects": lambda: TwoWayFixedEffects(_staggered(), **DID),
    "EventStudy": lambda: EventStudy(_staggered(), window=(-3, 3), **DID),
    "GroupTimeATT": lambda: GroupTimeATT(_staggered(), **DID),
    "HonestDiD": lambda: honest_from(EventStudy(_staggered(), window=(-3, 3), **DID), m=[0.0], mbar=[0.0],
                                     grid_points=100),
    "SlopeIndexOfInequality": lambda: SlopeIndexOfInequality(
        pd.DataFrame({"imd_quintile": [1, 2, 3, 4, 5], "value": [50.0, 54.0, 57.0, 61.0, 63.0],
                      "se": [1.0, 1.1, 0.9, 1.2, 1.0], "population": [900, 1100, 1000, 950, 1050]}),
        value="value", se="se", population="population", repetitions=1000, seed=1),
}


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def fitted(request):
    return request.param, ESTIMATORS[request.param]()


def test_is_an_estimator_and_draws_nothing(fitted):
    name, est = fitted
    assert isinstance(est, Estimator), name
    assert not hasattr(est, "plot"), f"{name}: drawing belongs in report/"


@pytest.mark.parametrize("method", ["tidy", "summary", "effect_summary"])
def test_tidy_frames(fitted, method):
    name, est = fitted
    frame = check_tidy(getattr(est, method)(), f"{name}.{method}()")
    keys = list(frame.columns[:list(frame.columns).index("estimate")])
    assert keys, f"{name}.{method}(): no key column says which quantity a row is"
    finite = frame.dropna(subset=["ci_lower", "ci_upper"])
    assert np.isfinite(frame["estimate"]).all()
    assert ((finite["ci_lower"] <= finite["estimate"] + 1e-12)
            & (finite["estimate"] <= finite["ci_upper"] + 1e-12)).all()
    assert (frame["std_error"].dropna() >= 0).all()
    assert frame["p_value"].dropna().between(0, 1).all()


def test_summary_extends_tidy(fitted):
    name, est = fitted
    tidy, summary = est.tidy(), est.summary()
    assert len(summary) == len(tidy)
    assert list(summary.columns[:len(tidy.columns)]) == list(tidy.columns) or set(tidy.columns) <= set(summary)
    pd.testing.assert_frame_equal(summary[list(TIDY_COLUMNS)].reset_index(drop=True),
                                  tidy[list(TIDY_COLUMNS)].reset_index(drop=True))


def test_plot_data_is_a_frame(fitted):
    name, est = fitted
    data = est.plot_data()
    assert isinstance(data, pd.DataFrame) and not data.empty, name
