"""Options of every ITS model, validated once: :class:`ITSSettings` (what each option means:
:mod:`beyond_averages.its.segmented`; why the defaults are what they are: ``docs/its.md``, "Defaults and why",
and ``bench/its_calibration.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import pandas as pd

from beyond_averages.files import InputError
from beyond_averages.its.frequency import Frequency
from beyond_averages.its.inference import MAX_ARMA_ORDER, GLSCorrelation

Family = Literal["gaussian", "poisson", "quasipoisson", "binomial", "quasibinomial"]
Seasonality = Literal["none", "fourier", "month"]
Autocorrelation = Literal["none", "newey_west", "ar", "gls", "auto"]
CovidHandling = Literal["none", "exclude", "indicator"]
CIMethod = Literal["delta", "simulation"]
ImpactModel = Literal["level_slope", "level", "slope"]
GLSDegrees = Literal["effective", "residual"]

MIN_SEGMENT_POINTS = 8  # fewest fitted months allowed before and after the interruption


@dataclass(frozen=True)
class ITSSettings:
    """Model options, validated once. See the module docstring for their meaning."""

    family: Family = "gaussian"
    impact: ImpactModel = "level_slope"
    seasonality: Seasonality = "none"
    harmonics: int = 2
    autocorrelation: Autocorrelation = "gls"  # calibrated default for every family: docs/its.md, "Defaults and why"
    hac_lags: int | None = None  # None: Newey-West rule floor(4 (n/100)^(2/9))
    ar_order: int = 1
    ma_order: int = 1  # used by autocorrelation='gls' with gls_correlation='arma' only
    gls_correlation: GLSCorrelation = "ar1_noise"
    # The t reference of 'gls' fits: 'effective' (calibrated default) uses the effective number of observations
    # under the fitted correlation minus the coefficients; 'residual' uses n - k, as nlme::gls does.
    gls_df: GLSDegrees = "effective"
    transition_months: int = 0
    covid: CovidHandling = "none"
    covid_start: str = "2020-03-01"
    covid_end: str = "2020-08-01"
    per: float = 100.0
    alpha: float = 0.05
    ci_method: CIMethod = "delta"
    n_sim: int = 4000
    seed: int = 20240401
    min_segment_points: int = MIN_SEGMENT_POINTS
    frequency: Frequency = "auto"  # the time axis: see beyond_averages.its.frequency (inferred from the column)

    def __post_init__(self):
        for name, alias in (("family", Family), ("seasonality", Seasonality), ("autocorrelation", Autocorrelation),
                            ("covid", CovidHandling), ("ci_method", CIMethod),
                            ("impact", ImpactModel), ("gls_correlation", GLSCorrelation), ("gls_df", GLSDegrees),
                            ("frequency", Frequency)):
            if getattr(self, name) not in get_args(alias):
                raise InputError(f"{name}: {getattr(self, name)!r} is not one of {', '.join(get_args(alias))}")
        if not 1 <= int(self.harmonics) <= 6:
            raise InputError(f"harmonics: {self.harmonics!r} must be a whole number from 1 to 6 (period 12 months)")
        if self.transition_months < 0 or self.ar_order < 1:
            raise InputError("transition_months must be >= 0 and ar_order >= 1")
        if self.ar_order > MAX_ARMA_ORDER or not 0 <= self.ma_order <= MAX_ARMA_ORDER:
            raise InputError(f"ar_order {self.ar_order!r} and ma_order {self.ma_order!r}: use ar_order 1 to "
                             f"{MAX_ARMA_ORDER} and ma_order 0 to {MAX_ARMA_ORDER} (short monthly series)")
        if self.hac_lags is not None and self.hac_lags < 0:
            raise InputError(f"hac_lags: {self.hac_lags!r} must be >= 0")
        if self.autocorrelation == "ar" and self.family != "gaussian":
            raise InputError(f"autocorrelation='ar' needs family='gaussian' (got {self.family!r}); use "
                             "autocorrelation='gls' (quasi-likelihood GLS) or 'newey_west' for count families")
        if not 0 < self.alpha < 1 or self.per <= 0:
            raise InputError("alpha must lie in (0, 1) and per must be positive")
        if pd.Timestamp(self.covid_end) < pd.Timestamp(self.covid_start):
            raise InputError(f"covid_end {self.covid_end} is before covid_start {self.covid_start}")

    @property
    def link(self) -> str:
        return {"gaussian": "identity", "poisson": "log", "quasipoisson": "log"}.get(self.family, "logit")
