"""Two series in one segmented regression: Q1 against Q5, programme against comparison practices, and the
controlled ITS by quintile (the chapter's headline). Boundary semantics as :mod:`beyond_averages.its.segmented`.

Orientation: every contrast is focal minus reference -- Q1 (most deprived) minus Q5 (least deprived), programme
minus comparison; a positive difference in level change means the focal series gained more.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.files import InputError, require_columns
from beyond_averages.its.design import design_matrix, fit_mask, horizon_months, resolve_frequency, validate_series
from beyond_averages.its.effects import (
    EFFECT_KEYS, coefficient_table, contrast_rows, effect_rows, linear_contrast, natural_scale,
)
from beyond_averages.its.frequency import period_index
from beyond_averages.its.fitting import fit_model
from beyond_averages.its.inference import acf_table, gls_errors_text, residual_diagnostics
from beyond_averages.its.settings import ITSSettings
from beyond_averages.results import TIDY_COLUMNS, Estimator, tidy_frame

CONTRAST_KEY = f"{MOST_DEPRIVED} - {LEAST_DEPRIVED}"  # the group key of a Q1-minus-Q5 row in result frames


class ComparativeSegmentedRegression(Estimator):
    """One segmented regression of two stacked series with full interaction of the ITS terms.

    ``g(E[y]) = base terms + focal * (const + time + level + slope)`` with seasonality and the COVID-19 term shared.
    ``focal_level`` / ``focal_slope`` are the DIFFERENCES focal minus reference in level change and slope change
    (link scale; ``ratio`` columns give ratios of rate/odds ratios for count families). Boundary semantics as in
    :class:`~beyond_averages.its.SegmentedRegression`: the interruption month is the first post month.
    Newey-West standard errors use the lags within each series (statsmodels ``hac-groupsum``); ``'auto'`` chooses
    between none and Newey-West with the Ljung-Box test of each series' residuals.

    ``autocorrelation='gls'`` (the chapter's default; gaussian only) and ``'ar'`` model the DIFFERENCE series
    ``y_focal - y_reference`` month by month on ``const, time, level, slope``: with seasonality and the COVID-19 term
    shared, the interaction model's ``focal_*`` coefficients are exactly the OLS coefficients of that regression
    (the shared terms cancel), so nothing is lost by fitting it with autocorrelated errors -- REML GLS for
    ``'gls'`` (errors AR(1) plus white noise by default, ``gls_correlation``), ML AR(``ar_order``) (statsmodels
    ARIMA) for ``'ar'``. Why: on null simulations (AR(1) noise rho = 0.3, 84 months) Newey-West on the stacked model
    rejects a true null difference 14-17% of the time at nominal 5%, the REML GLS default about 4-5% (see
    ``docs/its.md`` and :mod:`beyond_averages.its.inference`). That fit is
    ``difference_fit_`` and gives :meth:`contrast_summary`, the absolute difference rows of :meth:`effect_summary`
    and :meth:`plot_data`; each group's own effects and the ratio measures still come from the stacked model
    (``fit_``), fitted with Newey-West in that case.
    """

    label = "ComparativeSegmentedRegression"

    def __init__(self, data: pd.DataFrame, interruption, *, group_col: str, focal, reference,
                 time_col: str = "month", numerator: str = "numerator", denominator: str = "denominator",
                 outcome: str | None = None, settings: ITSSettings | None = None, **options):
        self.settings = replace(settings, **options) if settings is not None else ITSSettings(**options)
        require_columns(data, [group_col, time_col], self.label)
        self.settings = resolve_frequency(self.settings, data[time_col], self.label, time_col)
        s = self.settings
        if s.autocorrelation in ("ar", "gls") and s.family != "gaussian":
            # the GLS/AR contrast is a model of the DIFFERENCE of two series, which is not a count
            raise InputError(f"{self.label}: autocorrelation={s.autocorrelation!r} needs family='gaussian' (got "
                             f"{s.family!r}) for two series; use autocorrelation='newey_west' for count families")
        present = set(data[group_col].unique())
        for g in (focal, reference):
            if g not in present:
                raise InputError(f"{self.label}: column {group_col!r} has no rows for group {g!r}")
        df = data[data[group_col].isin([focal, reference])].copy()
        if s.frequency != "integer":
            df[time_col] = pd.to_datetime(df[time_col])
        # Focal rows first; the order of months within each series is the caller's (validated below).
        df = (df.assign(_focal_first=(df[group_col] != focal).astype(int))
                .sort_values("_focal_first", kind="stable", ignore_index=True).drop(columns="_focal_first"))
        value_cols = [outcome] if outcome else [numerator, denominator]
        self.interruption_ = validate_series(df, time_col, value_cols, interruption, s,
                                             denominator=None if outcome else denominator, source=self.label,
                                             group_col=group_col)
        spans = df.groupby(group_col)[time_col].agg(["min", "max"])
        if spans["min"].nunique() != 1 or spans["max"].nunique() != 1:
            raise InputError(f"{self.label}: the two series in {group_col!r} must cover the same months")
        self.group_col, self.focal, self.reference, self.time_col = group_col, focal, reference, time_col
        is_focal = (df[group_col] == focal).to_numpy().astype(float)
        base = design_matrix(df[time_col], self.interruption_, s, origin=spans["min"].iloc[0])
        self._post_terms = [c for c in ("const", "time", "level", "slope") if c in base.columns]
        self._X = self._interact(base, is_focal)
        if outcome:
            self._y, self._den = df[outcome].to_numpy(float), None
            df["observed"] = self._y
        else:
            num, den = df[numerator].to_numpy(float), df[denominator].to_numpy(float)
            df["observed"] = s.per * num / den
            self._y, self._den = (df["observed"].to_numpy() if s.family == "gaussian" else num), den
        self.data_ = df
        self._groups = is_focal.astype(int)
        self._keep = fit_mask(df[time_col], self.interruption_, s)
        choice, reason = s.autocorrelation, f"requested autocorrelation={s.autocorrelation!r}"
        self.difference_fit_ = None
        if choice in ("ar", "gls"):
            self.difference_fit_, reason = self._fit_difference(df, choice)
            choice_stacked = "newey_west"
        elif choice == "auto":
            pre = fit_model(self._X, self._y, self._den, s, "none", keep=self._keep)
            ps = []
            for g in (1, 0):
                r = pre.residuals[self._groups[self._keep] == g]
                ps.append(residual_diagnostics(r, pre, s.family).set_index("statistic").loc["ljung_box", "p_value"])
            choice = "newey_west" if min(ps) < 0.05 else "none"
            reason = f"auto: smallest Ljung-Box p = {min(ps):.3f} -> {choice}"
        if choice not in ("ar", "gls"):
            choice_stacked = choice
        self.fit_ = fit_model(self._X, self._y, self._den, s, choice_stacked, hac_groups=self._groups,
                              keep=self._keep)
        self.autocorrelation_used_, self.autocorrelation_reason_ = choice, reason

    def _fit_difference(self, df: pd.DataFrame, choice: str):
        """Regression of y_focal - y_reference on const, time, level, slope with autocorrelated errors."""
        s, t = self.settings, self.time_col
        focal = self._groups == 1
        months = df.loc[focal, t].to_numpy()
        ref = pd.Series(self._y[~focal], index=df.loc[~focal, t].to_numpy()).reindex(months).to_numpy()
        Z = design_matrix(months, self.interruption_, s, origin=months.min())[self._post_terms]
        Z.columns = [f"focal_{c}" for c in Z.columns]
        fit = fit_model(Z, self._y[focal] - ref, None, s, choice, keep=self._keep[focal],
                        months=period_index(months, s.frequency))
        if choice == "gls":
            how = (f"REML GLS with {gls_errors_text(fit.result)} errors on the {self.focal} minus "
                   f"{self.reference} series")
        else:
            how = f"ML AR({s.ar_order}) errors on the {self.focal} minus {self.reference} series"
        return fit, f"requested autocorrelation={choice!r}: {how}"

    def _interact(self, base: pd.DataFrame, is_focal: np.ndarray) -> pd.DataFrame:
        X = base.copy()
        for c in self._post_terms:
            X[f"focal_{c}"] = base[c].to_numpy() * is_focal
        return X

    def tidy(self) -> pd.DataFrame:
        """Coefficients of the stacked interaction model (``focal_*``: focal minus reference, link scale)."""
        return coefficient_table(self.fit_, self.settings)

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` plus the fit: ``n_obs`` (fitted rows, both series), ``family``, ``autocorrelation`` (the
        handling used for the contrast)."""
        return self.tidy().assign(n_obs=self.fit_.n_obs, family=self.settings.family,
                                  autocorrelation=self.autocorrelation_used_)

    def contrast_summary(self) -> pd.DataFrame:
        """Difference (focal - reference) in level change and in slope change, with CI and test (from the
        difference-series model with ``autocorrelation`` 'gls' or 'ar', else from the stacked model)."""
        fit = self.difference_fit_ or self.fit_
        return contrast_rows(coefficient_table(fit, self.settings), "focal", f"{self.focal} - {self.reference}")

    def _rows(self, months, focal: bool, post: bool) -> np.ndarray:
        origin = self.data_[self.time_col].min()
        base = design_matrix(months, self.interruption_, self.settings, origin=origin, post=post)
        return self._interact(base, np.full(len(months), float(focal))).to_numpy()

    def effect_summary(self, horizons=(0, 6, 12, 24)) -> pd.DataFrame:
        """Per horizon: each group's effect and the difference focal - reference (absolute, natural scale) or the
        ratio of their ratios, with delta-method (or simulation) intervals: ``group`` (focal, reference,
        ``"<focal> - <reference>"``), ``horizon, month, measure``, the tidy columns, then ``ci_method``."""
        s = self.settings
        last = self.data_[self.time_col].max()
        hs, hm = horizon_months(self.interruption_, horizons, last, s, self.label)
        scale = natural_scale(s)
        f1, f0, r1, r0 = (self._rows(hm, f, p) for f, p in ((True, True), (True, False), (False, True), (False, False)))
        parts = [effect_rows(linear_contrast(self.fit_, [(1, f1), (-1, f0)], s, scale), hs, hm, s,
                             {"group": str(self.focal)}),
                 effect_rows(linear_contrast(self.fit_, [(1, r1), (-1, r0)], s, scale), hs, hm, s,
                             {"group": str(self.reference)}),
                 effect_rows(linear_contrast(self.fit_, [(1, f1), (-1, f0), (-1, r1), (1, r0)], s, scale), hs, hm,
                             s, {"group": f"{self.focal} - {self.reference}"})]
        if self.difference_fit_ is not None:
            origin = self.data_[self.time_col].min()
            z1, z0 = (design_matrix(hm, self.interruption_, s, origin=origin, post=p)[self._post_terms].to_numpy()
                      for p in (True, False))
            diff = effect_rows(linear_contrast(self.difference_fit_, [(1, z1), (-1, z0)], s, scale), hs, hm, s,
                               {"group": f"{self.focal} - {self.reference}"})
            parts[2] = pd.concat([diff[diff["measure"] == "absolute"], parts[2][parts[2]["measure"] == "ratio"]])
            parts[2] = parts[2].sort_values(["horizon", "measure"], kind="stable")
        return tidy_frame(pd.concat(parts, ignore_index=True), keys=EFFECT_KEYS)

    def plot_data(self) -> pd.DataFrame:
        """The difference series focal minus reference (natural scale) per month: ``month, observed, in_fit,
        fitted, counterfactual`` (+ ``_lower`` / ``_upper`` pointwise bands). From ``difference_fit_`` when there is
        one, else the stacked model's difference of the two groups' fitted values (seasonality cancels)."""
        s, t = self.settings, self.time_col
        focal = self._groups == 1
        months = pd.DatetimeIndex(self.data_.loc[focal, t])
        ref = self.data_.loc[~focal].set_index(t)["observed"].reindex(months).to_numpy()
        out = pd.DataFrame({"month": months, "observed": self.data_.loc[focal, "observed"].to_numpy() - ref,
                            "in_fit": self._keep[focal]})
        origin = self.data_[t].min()
        for name, post in (("fitted", True), ("counterfactual", False)):
            if self.difference_fit_ is not None:
                z = design_matrix(months, self.interruption_, s, origin=origin, post=post)[self._post_terms]
                eff = linear_contrast(self.difference_fit_, [(1, z.to_numpy())], s, natural_scale(s))
            else:
                eff = linear_contrast(self.fit_, [(1, self._rows(months, True, post)),
                                                  (-1, self._rows(months, False, post))], s, natural_scale(s))
            out[name], out[f"{name}_lower"], out[f"{name}_upper"] = (eff["absolute"], eff["absolute_lo"],
                                                                     eff["absolute_hi"])
        return out

    def model_comparison(self, *smaller, names=None) -> pd.DataFrame:
        """This model against smaller nested ones (given smallest first): fit statistics and F / likelihood-ratio /
        Wald tests as a frame (:func:`beyond_averages.its.comparison.model_comparison`)."""
        from beyond_averages.its.comparison import compare_with

        return compare_with(self, smaller, names)

    def _difference_or_stacked_fit(self):
        return self.difference_fit_ or self.fit_

    def diagnostics(self) -> pd.DataFrame:
        """Durbin-Watson and Ljung-Box of the residuals of the model behind :meth:`contrast_summary` (normalized
        residuals for ``'gls'``: whitened by the fitted correlation, so they test what the error model left)."""
        fit = self._difference_or_stacked_fit()
        out = residual_diagnostics(fit.residuals, fit, self.settings.family if fit is self.fit_ else "gaussian")
        out.loc[out["statistic"] == "autocorrelation_correction", "choice"] = self.autocorrelation_reason_
        return out

    def acf(self, nlags: int | None = None) -> pd.DataFrame:
        return acf_table(self._difference_or_stacked_fit().residuals, nlags)


class QuintileContrastITS(ComparativeSegmentedRegression):
    """Q1 (most deprived) vs Q5 (least deprived): differences in level and slope change, Q1 minus Q5."""

    label = "QuintileContrastITS"

    def __init__(self, data: pd.DataFrame, interruption, *, quintile_col: str = "imd_quintile", **kwargs):
        super().__init__(data, interruption, group_col=quintile_col, focal=MOST_DEPRIVED,
                         reference=LEAST_DEPRIVED, **kwargs)


class ControlledITS(ComparativeSegmentedRegression):
    """Programme practices vs a comparison series (practices without the programme), programme minus comparison."""

    label = "ControlledITS"

    def __init__(self, data: pd.DataFrame, interruption, *, arm_col: str = "arm", treated="programme",
                 comparison="comparison", **kwargs):
        super().__init__(data, interruption, group_col=arm_col, focal=treated, reference=comparison, **kwargs)


class ControlledQuintileITS(Estimator):
    """Controlled (comparative) ITS in every IMD quintile, and the Q1-vs-Q5 contrast of the controlled effects.

    In quintile q the series of the adopting practices and of the comparison practices (same quintile, same months)
    are fitted together by :class:`ControlledITS`; the controlled effect at horizon h is the change at
    ``t0 + h`` in the difference ``y_treated - y_comparison`` (percentage points) beyond its pre-interruption level
    and trend. Shocks shared by the two arms (the COVID-19 disruption, seasonality, secular change in recording)
    cancel in that difference, so the counterfactual needs only the DIFFERENCE to keep its pre-period trend, not
    each series. The Q1-vs-Q5 contrast is a segmented regression of ``d_Q1(t) - d_Q5(t)``, the difference of the
    two controlled differences (:class:`QuintileContrastITS` on the ``difference`` series; with
    ``autocorrelation='gls'`` the REML GLS fit calibrated in ``docs/its.md``). Positive contrast: the most deprived
    gained more.

    ``data``: one row per month x quintile x arm with numerator and denominator (e.g. :func:`build_arm_series`).
    Options as :class:`~beyond_averages.its.ITSSettings`; the family must be gaussian (differences of rates).
    Fitted attributes: ``fits_`` (quintile -> :class:`ControlledITS`), ``differences_`` (``month, <quintile>,
    difference``), ``contrast_`` (:class:`QuintileContrastITS` of the differences), ``interruption_``.
    """

    label = "ControlledQuintileITS"

    def __init__(self, data: pd.DataFrame, interruption, *, quintile_col: str = "imd_quintile", arm_col: str = "arm",
                 treated="programme", comparison="comparison", time_col: str = "month",
                 settings: ITSSettings | None = None, **options):
        self.settings = replace(settings, **options) if settings is not None else ITSSettings(**options)
        if self.settings.family != "gaussian":
            raise InputError(f"{self.label}: family={self.settings.family!r}; the controlled analysis models "
                             "differences of rates and needs family='gaussian'")
        require_columns(data, [quintile_col, arm_col, time_col], self.label)
        self.quintile_col, self.time_col = quintile_col, time_col
        self.fits_ = {int(q): ControlledITS(part.sort_values(time_col), interruption, arm_col=arm_col,
                                            treated=treated, comparison=comparison, time_col=time_col,
                                            settings=self.settings)
                      for q, part in data.groupby(quintile_col, sort=True)}
        self.interruption_ = next(iter(self.fits_.values())).interruption_
        self.differences_ = pd.concat(
            [f.plot_data()[["month", "observed"]].rename(columns={"month": time_col,
                                                                                 "observed": "difference"})
             .assign(**{quintile_col: q}) for q, f in self.fits_.items()], ignore_index=True)
        self.differences_ = self.differences_[[time_col, quintile_col, "difference"]]
        self.contrast_ = QuintileContrastITS(self.differences_, self.interruption_, quintile_col=quintile_col,
                                             time_col=time_col, outcome="difference", settings=self.settings)

    def _models(self) -> dict:
        """Group key ("1".."5", "1 - 5") -> the model behind its rows."""
        return {**{str(q): f for q, f in self.fits_.items()}, CONTRAST_KEY: self.contrast_}

    def tidy(self) -> pd.DataFrame:
        """Level change and slope change of the controlled difference per quintile, and their Q1 - Q5 differences:
        ``group, term``, the tidy columns (``group`` "1".."5" or "1 - 5"; ``term`` level_change, slope_change)."""
        rows = [f.contrast_summary().assign(group=g) for g, f in self._models().items()]
        out = pd.concat(rows, ignore_index=True)
        out["term"] = out["term"].str.replace("_difference", "", regex=False)
        return tidy_frame(out[["group", "term", *TIDY_COLUMNS]], keys=("group", "term"))

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` plus, per group, the months fitted (``n_obs``) and the ``autocorrelation`` handling used."""
        out = self.tidy()
        models = self._models()
        fits = [models[g].difference_fit_ or models[g].fit_ for g in out["group"]]
        return out.assign(n_obs=[f.n_obs for f in fits],
                          autocorrelation=[models[g].autocorrelation_used_ for g in out["group"]])

    def effect_summary(self, horizons=(6, 12, 24)) -> pd.DataFrame:
        """Controlled effect (percentage points) per quintile and horizon, and the Q1 - Q5 difference of the
        controlled effects: ``group, horizon, month, measure`` (``absolute``), then the tidy columns."""
        frames = []
        for g, f in self._models().items():
            t = f.effect_summary(horizons)
            frames.append(t[(t["group"] == f"{f.focal} - {f.reference}") & (t["measure"] == "absolute")]
                          .assign(group=g))
        return tidy_frame(pd.concat(frames, ignore_index=True)[[*EFFECT_KEYS, *TIDY_COLUMNS]], keys=EFFECT_KEYS)

    def plot_data(self) -> pd.DataFrame:
        """Per quintile and month the controlled difference: ``<quintile_col>``, then the columns of
        :meth:`ControlledITS.plot_data` (observed, fitted and counterfactual with bands)."""
        frames = [f.plot_data().assign(**{self.quintile_col: q}) for q, f in self.fits_.items()]
        out = pd.concat(frames, ignore_index=True)
        return out[[self.quintile_col, *[c for c in out.columns if c != self.quintile_col]]]
