"""The calibration tables' band verdict (bench/bands.py), on hand-worked cases."""

from __future__ import annotations

import math
import os

import pytest


@pytest.fixture(scope="module")
def bands(bench_script):
    return bench_script("bands")


def test_inside_and_at_the_edges(bands):
    assert bands.verdict(0.95, 500, bands.COVERAGE_BAND, 0.95) == "inside"
    assert bands.verdict(0.935, 500, bands.COVERAGE_BAND, 0.95) == "inside"
    assert bands.verdict(0.065, 500, bands.REJECTION_BAND, 0.05) == "inside"
    assert bands.verdict(math.nan, 500, bands.REJECTION_BAND, 0.05) == ""


def test_distance_in_points_and_monte_carlo_ses(bands):
    # The open count-slope cell of docs/its.md: 0.928 over 2,000 replications. 0.7 points below 0.935; the MC SE of
    # a 95% share over 2,000 is sqrt(0.95 * 0.05 / 2000) = 0.00487, so 0.007 / 0.00487 = 1.44.
    assert bands.verdict(0.928, 2000, bands.COVERAGE_BAND, 0.95) == "below by 0.7 (1.4 MC SEs)"
    # 97.0% over 1,000 (the DiD triple difference): 0.5 above 0.965, SE 0.00689, 0.73 SEs.
    assert bands.verdict(0.970, 1000, bands.COVERAGE_BAND, 0.95) == "above by 0.5 (0.7 MC SEs)"
    assert bands.row_verdict(0.970, 0.030, 1000) == ("coverage above by 0.5 (0.7 MC SEs); "
                                                     "rejection below by 0.5 (0.7 MC SEs)")
    assert bands.row_verdict(0.95, math.nan, 1000) == "inside"


def test_calibration_settings_by_name(bench_script):
    """bench/its_calibration.py: the five standard settings keep their random-number streams; any other rho (and,
    for counts, SD of the AR(1) part) gets the sixth stream (the same draws at every rho), and a malformed name stops
    the script with its name."""
    saved = dict(os.environ)
    try:
        calib = bench_script("its_calibration")
    finally:  # the script pins BLAS threads for itself; keep the test session's environment as it was
        os.environ.clear()
        os.environ.update(saved)
    assert calib.setting("nb") == ("count", None, 0, 0.10)
    assert calib.setting("nb_ar0.6") == ("count", 0.6, 2, 0.10)
    assert calib.setting("gauss_ar0.3") == ("gaussian", 0.3, 3, 0.10)
    assert calib.setting("nb_ar0.45") == ("count", 0.45, 5, 0.10)
    assert calib.setting("nb_ar0.6_sd0.2") == ("count", 0.6, 5, 0.2)
    assert calib.setting("gauss_ar0.9") == ("gaussian", 0.9, 5, 0.10)
    for bad in ("nb_ar1.2", "nb_arx", "poisson", "nb_ar0.6_sd0", "nb_ar0.6_sdx", "gauss_ar0.6_sd2"):
        with pytest.raises(SystemExit, match=repr(bad)):
            calib.setting(bad)
