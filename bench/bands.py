"""The calibration bands of issue #12 and a verdict on a simulated share that allows for Monte Carlo error.

A share from R replications misses a band of +-1.5 points around nominal by chance alone quite often (500
replications: MC SE about 1 point), so each printed row says whether it lies inside the band and, if not, how many
Monte Carlo SEs of a nominal share it lies beyond the band's edge: beyond 2 is evidence of miscalibration, within 2
is not evidence either way.
"""

from __future__ import annotations

import math

COVERAGE_BAND = (0.935, 0.965)
REJECTION_BAND = (0.035, 0.065)
NOMINAL_COVERAGE = 0.95


def verdict(share: float, replications: int, band: tuple[float, float], nominal: float) -> str:
    """"inside", or "below"/"above by <points> (<k> MC SEs)": the distance to the nearer edge of ``band`` in
    percentage points and in Monte Carlo SEs of a share of ``nominal`` over ``replications``; "" for a missing
    share (no null scenario)."""
    if share is None or math.isnan(share):
        return ""
    lo, hi = band
    if lo <= share <= hi:
        return "inside"
    gap = lo - share if share < lo else share - hi
    se = math.sqrt(nominal * (1 - nominal) / replications)
    return f"{'below' if share < lo else 'above'} by {100 * gap:.1f} ({gap / se:.1f} MC SEs)"


def row_verdict(coverage: float, rejection: float, replications: int) -> str:
    """The verdict on a row's coverage and null rejection together: "inside" when both are, else each miss."""
    parts = {"coverage": verdict(coverage, replications, COVERAGE_BAND, NOMINAL_COVERAGE),
             "rejection": verdict(rejection, replications, REJECTION_BAND, 1 - NOMINAL_COVERAGE)}
    misses = [f"{name} {v}" for name, v in parts.items() if v not in ("inside", "")]
    return "; ".join(misses) if misses else "inside"
