"""Interrupted time series by deprivation: series from the measures table, the controlled ITS by quintile (the
chapter's headline: adopting minus never-adopting practices in each quintile, and Q1 minus Q5 of those
differences), and, as secondary uncontrolled analyses, per-quintile fits, the Q1-vs-Q5 interaction model and
segmented regression of the inequality itself (gap and SII per month). Sentences, tables and figures:
:mod:`beyond_averages.report.its`.

Orientation of the inequality series: they come from :func:`beyond_averages.equity.equity_by_group`, the one
definition in the compendium: ``gap = p_Q5 - p_Q1`` and the SII (PHE method) are positive when the indicator is
higher among the LESS deprived. The interaction model reports focal minus reference, i.e. Q1 (most deprived) minus
Q5 (least deprived): a positive difference in level change means Q1 gained more.

Disclosure: the monthly series are sums over many practices and pass
:func:`beyond_averages.disclosure.release_counts` BEFORE any model is fitted, so every rate, model input and figure
derives from released (redacted, rounded-to-5) counts; a redacted month stops the analysis with an error rather
than being silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.disclosure import DEFAULT_RULES, DisclosureRules, release_counts
from beyond_averages.files import InputError, read_parquet, require_columns
from beyond_averages.its import (
    EffectSummary, ITSSettings, SegmentedRegression, acf_table, coefficient_table, design_matrix, effect_rows,
    fit_mask, fit_model, horizon_months, linear_contrast, month_number, natural_scale, residual_diagnostics,
    validate_series,
)

MEASURE_COLUMNS = ("month", "practice_id", "imd_quintile", "numerator", "denominator")


# ---------------------------------------------------------------------------------------------------------------
# Series from the measures table
# ---------------------------------------------------------------------------------------------------------------
def adoption_waves(programme: pd.DataFrame, start_col: str = "programme_start") -> list[pd.Timestamp]:
    """Distinct adoption months, earliest first (wave 1 = the first)."""
    require_columns(programme, ["practice_id", start_col], "programme")
    return sorted(pd.to_datetime(programme[start_col].dropna()).unique())


def wave_practices(programme: pd.DataFrame, wave: int = 1, start_col: str = "programme_start"):
    """Practice ids adopting in ``wave`` (1-based) and that wave's first month."""
    waves = adoption_waves(programme, start_col)
    if not 1 <= int(wave) <= len(waves):
        raise InputError(f"programme: wave {wave!r} does not exist; column {start_col!r} holds {len(waves)} "
                         f"adoption month(s): {', '.join(str(pd.Timestamp(w).date()) for w in waves)}")
    start = pd.Timestamp(waves[int(wave) - 1])
    ids = programme.loc[pd.to_datetime(programme[start_col]) == start, "practice_id"].astype(str)
    return sorted(ids), start


def build_monthly_series(measures: pd.DataFrame, practices=None, *, by: str = "imd_quintile",
                         release: bool = True, rules: DisclosureRules = DEFAULT_RULES,
                         source: str = "measures") -> pd.DataFrame:
    """Sum numerator and denominator over the chosen practices per month and ``by`` group (default quintile).

    Returns ``month, <by>, numerator, denominator, rate`` (rate in %). With ``release`` (the default) the sums pass
    :func:`release_counts` first, so the rate is computed from released counts.
    """
    require_columns(measures, list(MEASURE_COLUMNS), source)
    frame = measures
    if practices is not None:
        chosen = set(map(str, practices))
        frame = frame[frame["practice_id"].astype(str).isin(chosen)]
        if frame.empty:
            raise InputError(f"{source}: none of the {len(chosen)} chosen practices is in column 'practice_id'")
    keys = ["month"] + ([by] if by else [])
    out = frame.groupby(keys, sort=True)[["numerator", "denominator"]].sum().reset_index()
    out["month"] = pd.to_datetime(out["month"])
    if release:
        out = release_counts(out, rules=rules)
    else:
        out["rate"] = 100 * out["numerator"] / out["denominator"].where(out["denominator"] > 0)
    return out.sort_values([by, "month"] if by else ["month"], ignore_index=True)


def build_arm_series(measures: pd.DataFrame, treated, comparison, *, by: str = "imd_quintile",
                     arm_col: str = "arm", labels=("programme", "comparison"), **kwargs) -> pd.DataFrame:
    """:func:`build_monthly_series` for the ``treated`` and the ``comparison`` practices, stacked with an
    ``arm_col`` column (``labels``): the input of :class:`ControlledQuintileITS` (``by`` quintile) or
    :class:`ControlledITS` (``by=""``, all quintiles pooled). Counts are released per arm, month and group."""
    frames = [build_monthly_series(measures, ids, by=by, **kwargs).assign(**{arm_col: lab})
              for ids, lab in ((treated, labels[0]), (comparison, labels[1]))]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values([c for c in (by, arm_col, "month") if c], ignore_index=True)


def inequality_series(series: pd.DataFrame, measures=("gap", "sii")) -> pd.DataFrame:
    """Per month the gap (Q5 - Q1, percentage points) and SII (percentage points) from the quintile series,
    wide: ``month, gap, sii`` (via :func:`beyond_averages.equity.equity_by_group`)."""
    from beyond_averages.equity import equity_by_group

    long = equity_by_group(series, by=("month",), measures=tuple(measures), multiplier=100.0,
                           source="quintile series")
    wide = long.pivot(index="month", columns="measure", values="estimate").reset_index()
    wide.columns.name = None
    return wide[["month", *measures]]


# ---------------------------------------------------------------------------------------------------------------
# Two series in one model: Q1 vs Q5, or programme vs comparison
# ---------------------------------------------------------------------------------------------------------------
class ComparativeSegmentedRegression:
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
    ``docs/its.md`` and :mod:`beyond_averages.its_inference`). That fit is
    ``difference_fit_`` and gives :meth:`contrast_summary` and the absolute difference rows of
    :meth:`effect_summary`; each group's own effects, ratio measures and the counterfactual bands still come from
    the stacked model (``fit_``), fitted with Newey-West in that case.
    """

    label = "ComparativeSegmentedRegression"

    def __init__(self, data: pd.DataFrame, interruption, *, group_col: str, focal, reference,
                 time_col: str = "month", numerator: str = "numerator", denominator: str = "denominator",
                 outcome: str | None = None, settings: ITSSettings | None = None, **options):
        self.settings = replace(settings, **options) if settings is not None else ITSSettings(**options)
        s = self.settings
        require_columns(data, [group_col, time_col], self.label)
        present = set(data[group_col].unique())
        for g in (focal, reference):
            if g not in present:
                raise InputError(f"{self.label}: column {group_col!r} has no rows for group {g!r}")
        df = data[data[group_col].isin([focal, reference])].copy()
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
        fit = fit_model(Z, self._y[focal] - ref, None, s, choice, keep=self._keep[focal], months=month_number(months))
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

    def summary(self) -> pd.DataFrame:
        return coefficient_table(self.fit_, self.settings)

    def contrast_summary(self) -> pd.DataFrame:
        """Difference (focal - reference) in level change and in slope change, with CI and test (from the
        difference-series model with ``autocorrelation`` 'gls' or 'ar', else from the stacked model)."""
        fit = self.difference_fit_ or self.fit_
        tab = coefficient_table(fit, self.settings).set_index("term")
        rows = [t for t in ("focal_level", "focal_slope") if t in tab.index]
        out = tab.loc[rows].reset_index()
        out["term"] = out["term"].map({"focal_level": "level_change_difference",
                                       "focal_slope": "slope_change_difference"})
        out.insert(1, "contrast", f"{self.focal} - {self.reference}")
        return out

    def _rows(self, months, focal: bool, post: bool) -> np.ndarray:
        origin = self.data_[self.time_col].min()
        base = design_matrix(months, self.interruption_, self.settings, origin=origin, post=post)
        return self._interact(base, np.full(len(months), float(focal))).to_numpy()

    def effect_summary(self, horizons=(0, 6, 12, 24)) -> EffectSummary:
        """Per horizon: each group's effect and the difference focal - reference (absolute, natural scale) or the
        ratio of their ratios, with delta-method (or simulation) intervals."""
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
        table = pd.concat(parts, ignore_index=True)
        d = table[(table["group"].str.contains(" - ")) & (table["measure"] == "absolute")].iloc[-1]
        text = (f"At {int(d['horizon'])} months the effect in {self.focal} differed from that in {self.reference} by "
                f"{d['estimate']:+.2f} ({100 * (1 - s.alpha):.0f}% CI {d['ci_lower']:+.2f} to {d['ci_upper']:+.2f}; "
                f"p = {d['p_value']:.3f}).")
        return EffectSummary(table, text)

    def difference_counterfactual(self) -> pd.DataFrame:
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

    def counterfactual(self) -> pd.DataFrame:
        """Observed, fitted and counterfactual values per group and month (point estimates and bands)."""
        from beyond_averages.its import inverse_link

        s = self.settings
        q = self.fit_.quantile(s.alpha)
        V, b = self.fit_.cov.to_numpy(), self.fit_.params.to_numpy()
        frames = []
        for g, is_f in ((self.focal, True), (self.reference, False)):
            part = self.data_[self.data_[self.group_col] == g]
            out = pd.DataFrame({"group": str(g), "month": part[self.time_col].to_numpy(),
                                "observed": part["observed"].to_numpy()})
            for name, post in (("fitted", True), ("counterfactual", False)):
                X = self._rows(part[self.time_col], is_f, post)
                eta, se = X @ b, np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
                for suffix, e in (("", eta), ("_lower", eta - q * se), ("_upper", eta + q * se)):
                    out[name + suffix] = natural_scale(s) * inverse_link(e, s.link)
            frames.append(out)
        return pd.concat(frames, ignore_index=True)


def gls_errors_text(errors) -> str:
    """'AR(1) plus white noise (AR 0.31, white share 0.52)' or 'ARMA(1, 1) (AR 0.40, MA -0.10)'."""
    ar = ", ".join(f"{v:.2f}" for v in errors.phi)
    if errors.structure == "ar1_noise":
        return f"AR(1) plus white noise (AR {ar}, white share {errors.white_share:.2f})"
    ma = f", MA {', '.join(f'{v:.2f}' for v in errors.theta)}" if errors.theta else ""
    return f"ARMA({len(errors.phi)}, {len(errors.theta)}) (AR {ar}{ma})"


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


class ControlledQuintileITS:
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
            [f.difference_counterfactual()[["month", "observed"]].rename(columns={"month": time_col,
                                                                                 "observed": "difference"})
             .assign(**{quintile_col: q}) for q, f in self.fits_.items()], ignore_index=True)
        self.differences_ = self.differences_[[time_col, quintile_col, "difference"]]
        self.contrast_ = QuintileContrastITS(self.differences_, self.interruption_, quintile_col=quintile_col,
                                             time_col=time_col, outcome="difference", settings=self.settings)

    def summary(self) -> pd.DataFrame:
        """Level change and slope change of the controlled difference per quintile, and their Q1 - Q5 differences:
        ``group, term, estimate, std_error, ci_lower, ci_upper, p_value`` (``group`` "1".."5" or "1 - 5")."""
        rows = [f.contrast_summary().assign(group=str(q)) for q, f in self.fits_.items()]
        rows.append(self.contrast_.contrast_summary().assign(group=f"{MOST_DEPRIVED} - {LEAST_DEPRIVED}"))
        out = pd.concat(rows, ignore_index=True)
        out["term"] = out["term"].str.replace("_difference", "", regex=False)
        return out[["group", "term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]]

    def effect_summary(self, horizons=(6, 12, 24)) -> EffectSummary:
        """Controlled effect (percentage points) per quintile and horizon, and the Q1 - Q5 difference of the
        controlled effects: ``group, horizon, month, estimate, std_error, ci_lower, ci_upper, p_value``."""
        frames = []
        for q, f in self.fits_.items():
            t = f.effect_summary(horizons).table
            frames.append(t[(t["group"] == f"{f.focal} - {f.reference}") & (t["measure"] == "absolute")]
                          .assign(group=str(q)))
        t = self.contrast_.effect_summary(horizons).table
        frames.append(t[(t["group"] == f"{MOST_DEPRIVED} - {LEAST_DEPRIVED}") & (t["measure"] == "absolute")])
        cols = ["group", "horizon", "month", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
        table = pd.concat(frames, ignore_index=True)[cols]
        last = table[table["group"].str.contains(" - ")].iloc[-1]
        a = self.settings.alpha
        text = (f"At {int(last['horizon'])} months the controlled effect in the most deprived quintile minus that in "
                f"the least deprived was {last['estimate']:+.2f} percentage points ({100 * (1 - a):.0f}% CI "
                f"{last['ci_lower']:+.2f} to {last['ci_upper']:+.2f}).")
        return EffectSummary(table, text)

    def difference_counterfactual(self) -> pd.DataFrame:
        """Per quintile and month the controlled difference: observed, fitted and counterfactual with bands."""
        return pd.concat([f.difference_counterfactual().assign(**{self.quintile_col: q})
                          for q, f in self.fits_.items()], ignore_index=True)


# ---------------------------------------------------------------------------------------------------------------
# Per quintile
# ---------------------------------------------------------------------------------------------------------------
def fit_by_quintile(series: pd.DataFrame, interruption, *, quintile_col: str = "imd_quintile",
                    **options) -> dict[int, SegmentedRegression]:
    """One :class:`SegmentedRegression` per quintile present in ``series`` (same options for all)."""
    require_columns(series, [quintile_col], "quintile series")
    return {int(q): SegmentedRegression(part.sort_values("month"), interruption, **options)
            for q, part in series.groupby(quintile_col, sort=True)}


def effects_by_quintile(fits: dict[int, SegmentedRegression], horizons) -> pd.DataFrame:
    """Effects at each horizon for every quintile, one tidy frame with ``imd_quintile`` first."""
    frames = [fit.effect_summary(horizons).table.assign(imd_quintile=q) for q, fit in fits.items()]
    out = pd.concat(frames, ignore_index=True)
    return out[["imd_quintile", *[c for c in out.columns if c != "imd_quintile"]]]


# ---------------------------------------------------------------------------------------------------------------
# The whole chapter's analysis from two files
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class ITSAnalysis:
    """Everything the ITS chapter shows, fitted once.

    Headline: ``controlled`` (:class:`ControlledQuintileITS`, wave practices minus never-adopting practices in
    each quintile, and Q1 - Q5 of those differences). Secondary, uncontrolled: ``quintile_fits`` (one segmented
    regression per quintile of the wave practices' series), ``contrast`` (Q1 vs Q5 interaction model of those
    series), ``gap_fit`` / ``sii_fit`` (the monthly gap and SII of those series).
    """

    area: str
    wave: int
    interruption: pd.Timestamp
    n_practices: int
    n_comparison: int
    horizons: tuple[int, ...]
    settings: ITSSettings            # uncontrolled fits
    controlled_settings: ITSSettings
    series: pd.DataFrame             # released counts by quintile, programme practices of the wave
    arm_series: pd.DataFrame         # released counts by quintile and arm (programme, comparison)
    inequality: pd.DataFrame         # gap and SII per month (programme practices)
    controlled: ControlledQuintileITS
    quintile_fits: dict
    contrast: QuintileContrastITS
    gap_fit: SegmentedRegression
    sii_fit: SegmentedRegression | None

    def quintile_effects(self) -> pd.DataFrame:
        """Uncontrolled effects per quintile (absolute and ratio) at the horizons."""
        return effects_by_quintile(self.quintile_fits, self.horizons)

    def controlled_effects(self) -> pd.DataFrame:
        """Controlled effects per quintile and their Q1 - Q5 difference at the horizons (percentage points)."""
        return self.controlled.effect_summary(self.horizons).table

    def uncontrolled_vs_controlled(self) -> pd.DataFrame:
        """Per quintile and horizon (and Q1 - Q5): ``group, horizon, controlled, uncontrolled, difference``
        (uncontrolled minus controlled, percentage points); the uncontrolled Q1 - Q5 comes from ``contrast``."""
        c = self.controlled_effects().set_index(["group", "horizon"])["estimate"].rename("controlled")
        u = self.quintile_effects()
        u = u[u["measure"] == "absolute"].assign(group=lambda d: d["imd_quintile"].astype(str))
        uc = self.contrast.effect_summary(self.horizons).table
        uc = uc[(uc["measure"] == "absolute") & uc["group"].str.contains(" - ")]
        u = pd.concat([u[["group", "horizon", "estimate"]], uc[["group", "horizon", "estimate"]]])
        out = pd.concat([c, u.set_index(["group", "horizon"])["estimate"].rename("uncontrolled")], axis=1)
        out["difference"] = out["uncontrolled"] - out["controlled"]
        return out.reset_index()


def run_its_analysis(measures_path, programme_path, *, area: str = "", wave: int = 1, interruption=None,
                     family: str = "gaussian", seasonality: str = "fourier", harmonics: int = 2,
                     autocorrelation: str = "auto", horizons=(6, 12, 24), covid_handling: str = "exclude",
                     covid_start: str = "2020-03-01", covid_end: str | None = None,
                     controlled_covid_handling: str = "none", transition_months: int = 0,
                     contrast_autocorrelation: str = "gls") -> ITSAnalysis:
    """Read the measures and programme tables and fit every ITS model of the chapter.

    Relative paths are taken from the repository root. The programme practices are those adopting in ``wave``
    (1 = first); ``interruption`` defaults to that wave's start. The comparison practices are the never-adopting
    ones.

    COVID-19: ``covid_handling`` (``exclude``, ``indicator`` or ``none``) applies to the uncontrolled fits, for the
    months ``covid_start`` to ``covid_end`` inclusive; ``covid_end=None`` means the month before the interruption,
    because an indicator with a multi-year look-back (a reading in the last 5 years) falls from March 2020 and has
    not come back by the programme's start, so any month of that fall left in the pre-period bends the pre-trend.
    The controlled fits use ``controlled_covid_handling`` (default ``none``: the shock is shared by the two arms and
    cancels in their difference, so all months are used).

    ``family`` applies to the uncontrolled per-quintile fits and the uncontrolled Q1-vs-Q5 model; the controlled
    analysis, gap and SII are differences in percentage points (gaussian). ``autocorrelation`` applies to the
    per-quintile fits; ``contrast_autocorrelation`` (default ``'gls'``: REML GLS with AR(1)-plus-white-noise
    errors, calibrated on null simulations) to everything that is a difference between two series: the controlled
    fits, the Q1-vs-Q5 models, and the gap and SII series. ``'gls'`` and ``'ar'`` need ``family='gaussian'``;
    with a count family choose ``'newey_west'``, ``'none'`` or ``'auto'``.
    """
    from beyond_averages import paths

    if family != "gaussian" and contrast_autocorrelation in ("ar", "gls"):
        raise InputError(f"contrast_autocorrelation={contrast_autocorrelation!r} models the difference series and "
                         f"needs family='gaussian' (got {family!r}); use contrast_autocorrelation='newey_west', "
                         "'none' or 'auto' with a count family")
    root = lambda p: Path(p) if Path(p).is_absolute() else paths.ROOT / p  # noqa: E731 (relative to the repo root)
    measures = read_parquet(root(measures_path), columns=list(MEASURE_COLUMNS))
    programme = read_parquet(root(programme_path), columns=["practice_id", "programme_start"])
    ids, start = wave_practices(programme, wave)
    t0 = pd.Timestamp(interruption) if interruption else start
    end = covid_end or str((t0 - pd.DateOffset(months=1)).date())
    settings = ITSSettings(family=family, seasonality=seasonality, harmonics=harmonics,
                           autocorrelation=autocorrelation, covid=covid_handling, covid_start=covid_start,
                           covid_end=end, transition_months=transition_months)
    contrast_settings = replace(settings, autocorrelation=contrast_autocorrelation)
    gauss = replace(contrast_settings, family="gaussian")
    controlled_settings = replace(gauss, covid=controlled_covid_handling)
    never = sorted(set(measures["practice_id"].astype(str)) - set(programme["practice_id"].astype(str)))
    arms = build_arm_series(measures, ids, never)
    series = arms[arms["arm"] == "programme"].drop(columns="arm").reset_index(drop=True)
    ineq = inequality_series(series)
    controlled = ControlledQuintileITS(arms, t0, settings=controlled_settings)
    quintile_fits = fit_by_quintile(series, t0, settings=settings)
    contrast = QuintileContrastITS(series, t0, settings=contrast_settings)
    gap_fit = SegmentedRegression(ineq, t0, outcome="gap", settings=replace(gauss, per=1.0))
    sii_fit = (SegmentedRegression(ineq, t0, outcome="sii", settings=replace(gauss, per=1.0))
               if ineq["sii"].notna().all() else None)
    return ITSAnalysis(area, int(wave), t0, len(ids), len(never), tuple(int(h) for h in horizons), settings,
                       controlled_settings, series, arms, ineq, controlled, quintile_fits, contrast, gap_fit,
                       sii_fit)


# ---------------------------------------------------------------------------------------------------------------
# Calibration of the Q1-vs-Q5 test under the null
# ---------------------------------------------------------------------------------------------------------------
def rejection_rate(scenario: str = "null", n_sims: int = 200, seed: int = 20240401, *, alpha: float = 0.05,
                   rho: float = 0.3, **options) -> pd.DataFrame:
    """Share of simulated series in which the Q1-vs-Q5 difference test rejects at ``alpha`` (a false-positive rate
    for ``scenario="null"``, power otherwise).

    Replicate ``i`` is :func:`beyond_averages.its_simulate.simulate_quintile_series` (``scenario``, AR(1) noise
    ``rho``, seed ``seed + i``, 84 months, interruption April 2021) fitted with :class:`QuintileContrastITS`;
    ``options`` are ITSSettings fields, by default gaussian, Fourier seasonality and ``autocorrelation='gls'`` (REML
    GLS, errors AR(1) plus white noise, on the difference series: the chapter's default). Returns one row per term:
    ``term, rejection_rate, mc_std_error, n_sims, nominal``, with ``mc_std_error = sqrt(r (1 - r) / n_sims)``.
    """
    from beyond_averages.its_simulate import simulate_quintile_series

    opts = {"family": "gaussian", "seasonality": "fourier", "autocorrelation": "gls", "alpha": alpha, **options}
    hits = {"level_change_difference": 0, "slope_change_difference": 0}
    for i in range(int(n_sims)):
        data = simulate_quintile_series(scenario, seed=seed + i, rho=rho)
        tab = QuintileContrastITS(data, "2021-04-01", **opts).contrast_summary().set_index("term")
        for term in hits:
            hits[term] += int(tab.loc[term, "p_value"] < alpha)
    rates = {k: v / n_sims for k, v in hits.items()}
    return pd.DataFrame({"term": list(rates), "rejection_rate": list(rates.values()),
                         "mc_std_error": [np.sqrt(r * (1 - r) / n_sims) for r in rates.values()],
                         "n_sims": int(n_sims), "nominal": alpha})


def null_rejection_rate(n_sims: int = 200, seed: int = 20240401, *, alpha: float = 0.05, rho: float = 0.3,
                        **options) -> pd.DataFrame:
    """False-positive rate of the Q1-vs-Q5 difference test on NULL-scenario simulations: :func:`rejection_rate`
    with ``scenario="null"``; the default ``autocorrelation`` is the chapter's, ``'gls'`` (pass
    ``autocorrelation='newey_west'`` etc. to check the other options)."""
    return rejection_rate("null", n_sims, seed, alpha=alpha, rho=rho, **options)
