"""Controlled ITS with pooled multiple comparison units: one treated unit against ALL control units, stacked.

This is the multiple-group model of Linden's Stata ``itsa`` (Linden 2015, Stata Journal 15(2):480-500): every unit's
series is a block of rows (not an average of the controls), and one OLS fit of

``y = b0 + b1 time + b2 treated + b3 treated*time + b4 level + b5 slope + b6 treated*level + b7 treated*slope``

gives the controls' pre-trend (``time``), level change (``level``) and slope change (``slope``), and the treated
unit's DIFFERENCES from them (``treated_*``). ``itsa`` names: ``_t, _z, _z_t, _x, _x_t, _z_x, _z_x_t`` in that order
(``treated_slope`` is ``_z_x_t``, the difference-in-differences of trends). Boundary semantics as
:class:`~beyond_averages.its.SegmentedRegression`: the interruption is the first post period.

Why not average the controls: an average of 38 states is one smooth series whose noise is a fraction of any one
state's, so a two-series model treats the treated-minus-average difference as if it were measured against a
noise-free control, and its standard errors no longer reflect how much control units scatter around their own
trend. On Linden's Prop 99 example the slope difference has p = 0.136 pooled; averaging the controls first makes it
look highly significant (``tests/test_its_pooled.py``).

Standard errors (``autocorrelation``): ``'newey_west'`` (the default here, ``hac_lags`` lags, Bartlett kernel,
small-sample factor n/(n-k) and t(n-k) reference, as Stata's ``newey``) or ``'none'`` (OLS). ``hac_scope`` says
which pairs of rows are lagged:

* ``'within_unit'`` (default): lags within each unit's own series, summed over units (a panel Newey-West);
* ``'stacked'``: lags along the stacked rows, units in ascending order of ``unit_col`` and time within unit, so the
  last period of one unit is paired with the first of the next. This is what ``itsa`` does (its multiple-group call
  is ``newey ..., lag(#) force``, and ``force`` makes ``newey`` take the rows as one sequence); it reproduces
  Linden's published p-values, and is kept for that reproduction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from beyond_averages.files import InputError, require_columns
from beyond_averages.its.design import design_matrix, fit_mask, horizon_months, resolve_frequency, validate_series
from beyond_averages.its.effects import EFFECT_KEYS, coefficient_table, contrast_rows, effect_rows, linear_contrast
from beyond_averages.its.inference import ModelFit, default_hac_lags
from beyond_averages.its.settings import ITSSettings
from beyond_averages.results import TIDY_COLUMNS, Estimator, tidy_frame

HacScope = Literal["within_unit", "stacked"]
BASE_TERMS = ("const", "time", "level", "slope")


def newey_west_cov(X: np.ndarray, resid: np.ndarray, lags: int, blocks: np.ndarray | None = None) -> np.ndarray:
    """Newey-West covariance of OLS coefficients with Stata's ``newey`` factor n/(n-k): Bartlett weights
    ``1 - l/(lags+1)``; lagged pairs only within each block of consecutive equal ``blocks`` values (``None``: the
    rows are one sequence)."""
    n, k = X.shape
    u = X * resid[:, None]
    meat = u.T @ u
    same = np.ones(n, bool) if blocks is None else np.r_[True, blocks[1:] == blocks[:-1]]
    for lag in range(1, lags + 1):
        ok = same[lag:].copy()
        for j in range(1, lag):  # a pair is within a block if no block boundary lies between its rows
            ok &= same[j:n - lag + j]
        g = u[lag:][ok].T @ u[:-lag][ok]
        meat += (1 - lag / (lags + 1)) * (g + g.T)
    bread = np.linalg.inv(X.T @ X)
    return n / (n - k) * bread @ meat @ bread


class PooledControlledITS(Estimator):
    """One treated unit against every control unit, stacked (Linden's multiple-group ``itsa``).

    Parameters
    ----------
    data: one row per unit and period (a balanced panel: every unit covers the same periods).
    interruption: the first post period (a date, or an integer for integer periods such as years).
    unit_col: the unit identifier; ``treated``: the treated unit's value; ``controls``: the control units (default:
        every other unit).
    outcome: a continuous outcome column, or ``numerator`` / ``denominator`` for a rate times ``per``.
    hac_scope: ``'within_unit'`` or ``'stacked'`` (module docstring).
    **options: :class:`ITSSettings` fields (``hac_lags``, ``alpha``, ``frequency``, ``seasonality``, ...); the
        family must be gaussian and ``autocorrelation`` 'newey_west' (default here) or 'none'.

    Fitted attributes: ``fit_`` (:class:`~beyond_averages.its.inference.ModelFit`), ``units_`` (treated first),
    ``interruption_``, ``data_`` (the stacked rows in fitting order, with ``observed``).
    """

    label = "PooledControlledITS"

    def __init__(self, data: pd.DataFrame, interruption, *, unit_col: str, treated, controls=None,
                 time_col: str = "month", outcome: str | None = None, numerator: str = "numerator",
                 denominator: str = "denominator", hac_scope: HacScope = "within_unit",
                 settings: ITSSettings | None = None, **options):
        if settings is None:
            options.setdefault("autocorrelation", "newey_west")
        self.settings = replace(settings, **options) if settings is not None else ITSSettings(**options)
        require_columns(data, [unit_col, time_col], self.label)
        self.settings = resolve_frequency(self.settings, data[time_col], self.label, time_col)
        s = self.settings
        if s.family != "gaussian" or s.autocorrelation not in ("newey_west", "none"):
            raise InputError(f"{self.label}: family={s.family!r}, autocorrelation={s.autocorrelation!r}; the pooled "
                             "model is OLS: use family='gaussian' with autocorrelation='newey_west' or 'none'")
        if hac_scope not in ("within_unit", "stacked"):
            raise InputError(f"{self.label}: hac_scope {hac_scope!r} is not one of within_unit, stacked")
        present = sorted(data[unit_col].unique())
        if treated not in present:
            raise InputError(f"{self.label}: column {unit_col!r} has no rows for the treated unit {treated!r}")
        controls = [u for u in present if u != treated] if controls is None else list(controls)
        missing = [u for u in controls if u not in present]
        if missing or not controls or treated in controls:
            raise InputError(f"{self.label}: controls in column {unit_col!r} must be other units present in the data "
                             f"(missing {missing!r}, treated among them: {treated in controls})")
        units = sorted([treated, *controls])
        df = data[data[unit_col].isin(units)].sort_values([unit_col, time_col], kind="stable", ignore_index=True)
        if s.frequency != "integer":
            df[time_col] = pd.to_datetime(df[time_col])
        value_cols = [outcome] if outcome else [numerator, denominator]
        self.interruption_ = validate_series(df, time_col, value_cols, interruption, s,
                                             denominator=None if outcome else denominator, source=self.label,
                                             group_col=unit_col)
        spans = df.groupby(unit_col)[time_col].agg(["min", "max", "size"])
        if spans.nunique().max() != 1:
            raise InputError(f"{self.label}: every unit in {unit_col!r} must cover the same {time_col!r} periods "
                             "(a balanced panel)")
        df["observed"] = df[outcome].astype(float) if outcome else s.per * df[numerator] / df[denominator]
        self.unit_col, self.time_col, self.treated, self.hac_scope = unit_col, time_col, treated, hac_scope
        self.units_ = [treated, *[u for u in units if u != treated]]
        self.data_ = df
        self._origin = spans["min"].iloc[0]
        is_treated = (df[unit_col] == treated).to_numpy(float)
        self._X = self._rows(df[time_col], is_treated, True)
        self._keep = fit_mask(df[time_col], self.interruption_, s)
        self.fit_ = self._fit(df[unit_col].to_numpy())

    def _rows(self, times, treated, post: bool) -> pd.DataFrame:
        base = design_matrix(times, self.interruption_, self.settings, origin=self._origin, post=post)
        terms = [c for c in BASE_TERMS if c in base.columns]
        z = np.broadcast_to(np.asarray(treated, float), (len(base),))
        inter = {f"treated_{c}" if c != "const" else "treated": base[c].to_numpy() * z for c in terms}
        X = pd.concat([base[terms], pd.DataFrame(inter, index=base.index),
                       base.drop(columns=terms)], axis=1)
        order = ["const", "time", "treated", "treated_time"] + [c for c in X.columns if c not in
                                                                ("const", "time", "treated", "treated_time")]
        return X[order]

    def _fit(self, unit_codes: np.ndarray) -> ModelFit:
        s = self.settings
        X = self._X.to_numpy()[self._keep]
        y = self.data_["observed"].to_numpy(float)[self._keep]
        n, k = X.shape
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        if s.autocorrelation == "newey_west":
            lags = s.hac_lags if s.hac_lags is not None else default_hac_lags(n // len(self.units_))
            blocks = None if self.hac_scope == "stacked" else unit_codes[self._keep]
            cov = newey_west_cov(X, resid, lags, blocks)
        else:
            cov = float(resid @ resid) / (n - k) * np.linalg.inv(X.T @ X)
        cols = self._X.columns
        return ModelFit(pd.Series(beta, index=cols), pd.DataFrame(cov, index=cols, columns=cols), n - k, resid,
                        float(resid @ resid) / (n - k), s.autocorrelation, n)

    # -- results ----------------------------------------------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """Coefficients: ``time``/``level``/``slope`` for the controls, ``treated*`` the treated unit's differences
        (``treated_level`` = difference in level change, ``treated_slope`` = difference in slope change)."""
        return coefficient_table(self.fit_, self.settings)

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` plus ``n_obs`` (stacked rows fitted), ``n_units``, ``autocorrelation`` and ``hac_scope``."""
        return self.tidy().assign(n_obs=self.fit_.n_obs, n_units=len(self.units_),
                                  autocorrelation=self.settings.autocorrelation, hac_scope=self.hac_scope)

    def contrast_summary(self) -> pd.DataFrame:
        """Treated minus controls: ``level_change_difference`` and ``slope_change_difference`` (as the two-series
        estimators' :meth:`contrast_summary`)."""
        return contrast_rows(self.tidy(), "treated", f"{self.treated} - controls")

    def model_comparison(self, *smaller, names=None) -> pd.DataFrame:
        """This model against smaller nested ones (given smallest first): fit statistics and F / likelihood-ratio /
        Wald tests as a frame (:func:`beyond_averages.its.comparison.model_comparison`)."""
        from beyond_averages.its.comparison import compare_with

        return compare_with(self, smaller, names)

    def _lincom(self, weights: dict[str, float]) -> dict:
        w = np.array([weights.get(c, 0.0) for c in self.fit_.params.index])
        return linear_contrast(self.fit_, [(1.0, w)], self.settings, 1.0)

    def post_trends(self) -> pd.DataFrame:
        """The slope after the interruption (as ``itsa, posttrend``): ``group`` treated / controls / difference."""
        combos = {str(self.treated): {"time": 1, "treated_time": 1, "slope": 1, "treated_slope": 1},
                  "controls": {"time": 1, "slope": 1},
                  f"{self.treated} - controls": {"treated_time": 1, "treated_slope": 1}}
        rows = []
        for group, w in combos.items():
            e = self._lincom(w)
            rows.append({"group": group, "estimate": e["absolute"][0], "std_error": e["absolute_se"][0],
                         "ci_lower": e["absolute_lo"][0], "ci_upper": e["absolute_hi"][0],
                         "p_value": e["absolute_p"][0]})
        return tidy_frame(rows, keys=("group",))

    def effect_summary(self, horizons=(0,)) -> pd.DataFrame:
        """Effect (with minus without the interruption terms) per horizon for the treated unit, the controls and
        their difference: ``group, horizon, month, measure`` (``absolute``) and the tidy columns."""
        s = self.settings
        last = self.data_[self.time_col].max()
        hs, hm = horizon_months(self.interruption_, horizons, last, s, self.label)
        parts = []
        t1, t0, c1, c0 = (self._rows(hm, z, p).to_numpy() for z, p in ((1, True), (1, False), (0, True), (0, False)))
        for group, terms in ((str(self.treated), [(1, t1), (-1, t0)]), ("controls", [(1, c1), (-1, c0)]),
                             (f"{self.treated} - controls", [(1, t1), (-1, t0), (-1, c1), (1, c0)])):
            eff = effect_rows(linear_contrast(self.fit_, terms, s, 1.0), hs, hm, s, {"group": group})
            parts.append(eff[eff["measure"] == "absolute"])
        return tidy_frame(pd.concat(parts, ignore_index=True)[[*EFFECT_KEYS, *TIDY_COLUMNS]], keys=EFFECT_KEYS)

    def plot_data(self) -> pd.DataFrame:
        """Per group (treated unit, mean of the controls) and period: ``group, month, observed, fitted,
        counterfactual`` (the fitted lines are the model's; the controls' observed value is their mean)."""
        t = self.time_col
        times = pd.Series(sorted(self.data_[t].unique()))
        frames = []
        for group, z in ((str(self.treated), 1.0), ("controls", 0.0)):
            rows = self.data_[(self.data_[self.unit_col] == self.treated) == bool(z)]
            observed = rows.groupby(t)["observed"].mean().reindex(times).to_numpy()
            fitted = self._rows(times, z, True).to_numpy() @ self.fit_.params.to_numpy()
            counterfactual = self._rows(times, z, False).to_numpy() @ self.fit_.params.to_numpy()
            frames.append(pd.DataFrame({"group": group, "month": times.to_numpy(), "observed": observed,
                                        "fitted": fitted, "counterfactual": counterfactual}))
        return pd.concat(frames, ignore_index=True)
