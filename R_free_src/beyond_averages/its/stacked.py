"""Controlled ITS with every adoption wave, stacked in event time: the ITS chapter's headline estimator.

Design. For each wave ``w`` and IMD quintile the outcome is the monthly difference ``d_w(t)`` between the wave's
adopting practices and the never-adopting practices (clean controls: no practice that adopts at any time serves as a
control), over the same calendar months. The waves' series are stacked and fitted by one least-squares model per
quintile with

* a wave-specific intercept and trend, estimated from that wave's months before its own start;
* seasonality by calendar month, shared by the waves (:class:`~beyond_averages.its.ITSSettings` ``seasonality``);
* one term per wave and month from its start on (event time ``e = 0, 1, ...``), so the effect ``e`` months after a
  wave's start is the observed difference minus the counterfactual (the wave's pre-start trend and the seasonality
  carried forward), with no assumption about the shape of the effect over time.

The effect at horizon ``h`` is the mean of the waves' effects at event time ``h`` over the waves followed for ``h``
months, each wave weighted by its eligible patients (all quintiles) in the month before its start (``weights_``);
the same weights in every quintile. Q1 minus Q5 is the same model fitted to the difference ``d_w,Q1 - d_w,Q5``:
with identical regressors least squares is linear in the outcome, so its estimate IS the Q1 row minus the Q5 row
(as seemingly unrelated regressions with identical regressors reduce to equation-by-equation least squares), and
its standard error, computed from the residuals of the difference, includes the correlation of the two quintiles.

Error model, chosen by a stated rule (``autocorrelation='rule'``). First a Ljung-Box test at lag 12 (fewer when a
wave has fewer than 60 pre-start months: ``n // 5``) on each wave's least-squares residuals before its start
(:func:`~beyond_averages.its.error_models.autocorrelation_rule`); if no p-value is below 0.05 the errors are
independent. Otherwise two autocorrelated models are fitted by REML on the pre-start months, waves independent
(:func:`~beyond_averages.its.error_models.block_reml`): an AR(1) process plus white noise (the calibrated error
model of :mod:`beyond_averages.its.inference`, :func:`~beyond_averages.its.error_models.fit_ar1_noise`) and a random
walk plus white noise (:func:`~beyond_averages.its.error_models.fit_random_walk`); the one with the higher
restricted log-likelihood is used, and a difference under ``LOGLIK_TIE`` (2) goes to the random walk. Why the random
walk: an indicator that counts a reading in the last five years keeps each month's chance excess for five years, so
the difference of two groups' series wanders like a random walk over the chapter's horizons. When the rule was set,
on the default extract, the two models fitted equally well (log-likelihoods within 1), yet the AR(1) fits
(coefficients 0.90 to 0.98) pulled the counterfactual back towards the trend and 3 of the 18 headline intervals
missed the true effect, where the random walk's, which widen with the horizon, covered all 18
(``bench/its_truth_check.py``).

Waves share the never-adopting practices, so their errors are correlated in the same calendar month: the covariance
is ``C (x) R``, ``C`` the waves' scales and the correlation of their residuals in common pre-start months, ``R`` the
fitted error model over calendar months. Standard errors are the least-squares sandwich under that covariance, with a
t reference on the pre-start residual degrees of freedom: the ``inference='error_model'`` intervals. Given the
practices' own counts (``practices``), the default is ``inference='practice_jackknife'`` instead
(:mod:`beyond_averages.its.clusters`): the same estimates, with standard errors from leaving out one practice at a
time, which need no error model; the rule's choice is still fitted and reported. Monthly series only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.files import InputError, require_columns
from beyond_averages.its.clusters import PracticeJackknife
from beyond_averages.its.design import design_matrix
from beyond_averages.its.error_models import (ERROR_MODELS, LOGLIK_TIE, ar1_noise_correlation, autocorrelation_rule,
                                              fit_ar1_noise, fit_random_walk, random_walk_correlation)
from beyond_averages.its.frequency import period_index
from beyond_averages.its.settings import ITSSettings
from beyond_averages.results import Estimator, tidy_frame

CONTRAST_KEY = f"{MOST_DEPRIVED} - {LEAST_DEPRIVED}"
INFERENCE = ("practice_jackknife", "error_model")


class StackedFit:
    """One stacked least-squares fit of the waves' series (``values``: waves x months) with the rule's error model."""

    def __init__(self, values: np.ndarray, months: pd.DatetimeIndex, starts: list[int], settings: ITSSettings,
                 choice: str | None = None):
        self.n_waves, self.n_months = values.shape
        season = design_matrix(months, months[0], settings, origin=months[0]).drop(
            columns=["const", "time", "level", "slope"], errors="ignore")
        names, cols, rows_pre = [], [], []
        W, T = self.n_waves, self.n_months
        t = np.arange(T, dtype=float)
        for w, s in enumerate(starts):
            for name, col in ((f"w{w}_const", np.ones(T)), (f"w{w}_time", t - s)):
                names.append(name)
                cols.append((w, col))
            for e in range(T - s):
                names.append(f"w{w}_e{e}")
                cols.append((w, (t == s + e).astype(float)))
            rows_pre.append(t < s)
        X = np.zeros((W * T, len(names) + season.shape[1]))
        for j, (w, col) in enumerate(cols):
            X[w * T:(w + 1) * T, j] = col
        X[:, len(names):] = np.tile(season.to_numpy(float), (W, 1))
        self.names = names + list(season.columns)
        self.X, self.y = X, values.reshape(-1).astype(float)
        self.pre = np.concatenate(rows_pre)
        self.beta = np.linalg.lstsq(X, self.y, rcond=None)[0]
        resid = self.y - X @ self.beta
        self.k_pre = 2 * W + season.shape[1]
        self.df = int(self.pre.sum() - self.k_pre)
        if self.df < 2:
            raise InputError(f"stacked ITS: {int(self.pre.sum())} pre-start months for {self.k_pre} pre-start terms")
        pre_resid = [resid[w * T:(w + 1) * T][:s] for w, s in enumerate(starts)]
        if choice is None:
            self.choice, self.lb_p, self.reason = autocorrelation_rule(pre_resid)
        else:
            self.choice, self.lb_p, self.reason = choice, np.nan, f"requested: {choice}"
        self.phi = self.white_share = self.rw_ratio = 0.0
        self.loglik = {}
        self.sigma2 = None  # independent errors: each wave's residual variance
        if self.choice != "independent":
            Xp = X[self.pre][:, [self.names.index(c) for c in self.names if "_e" not in c]]
            yp = self.y[self.pre]
            phi, white, ar_sigma2, ar_loglik = fit_ar1_noise(yp, Xp, starts)
            ratio, rw_sigma2, rw_loglik = fit_random_walk(yp, Xp, starts)
            self.loglik = {"ar1_noise": ar_loglik, "random_walk": rw_loglik}
            if self.choice == "autocorrelated":
                # REML log-likelihoods of the two models (same fixed effects, so comparable); a near tie goes to the
                # random walk, whose intervals widen with the horizon: the cautious model when the data cannot tell.
                pick = "random_walk" if rw_loglik >= ar_loglik - LOGLIK_TIE else "ar1_noise"
                self.reason += (f"; REML log-likelihood AR(1) plus noise {ar_loglik:.1f}, random walk plus noise "
                                f"{rw_loglik:.1f} (a tie within {LOGLIK_TIE:g} goes to the random walk): {pick}")
                self.choice = pick
            if self.choice == "ar1_noise":
                # The REML variance of the error PROCESS: with a persistent AR part it is far larger than the variance
                # of least-squares residuals around a fitted trend, which absorbs much of the slow wander.
                self.phi, self.white_share, self.sigma2 = phi, white, ar_sigma2
            else:
                self.phi, self.rw_ratio, self.sigma2 = 1.0, ratio, rw_sigma2
        if self.choice == "random_walk":
            R = random_walk_correlation(T, self.rw_ratio)
        else:
            R = ar1_noise_correlation(T, self.phi, self.white_share)
        self.wave_cov = self._wave_covariance(pre_resid, starts)
        sigma = np.kron(self.wave_cov, R)
        A = np.linalg.pinv(X)
        self.A = A  # estimate = g' beta = (g' A) y: the weights of a contrast on the series (practice jackknife)
        self.cov = A @ sigma @ A.T
        self.residuals = resid

    def _wave_covariance(self, pre_resid, starts) -> np.ndarray:
        """``C``: each wave's residual variance (pre-start, on its degrees of freedom) and the correlation of two
        waves' residuals in their common pre-start months."""
        W = self.n_waves
        k_wave = 2 + (self.k_pre - 2 * W) / W
        var = np.array([float(r @ r) / max(len(r) - k_wave, 1.0) for r in pre_resid])
        if self.sigma2 is not None:  # the process variance, shared out as the waves' residual variances are
            var = self.sigma2 * var / var.mean()
        corr = np.eye(W)
        for a in range(W):
            for b in range(a + 1, W):
                m = min(starts[a], starts[b])
                if m > 2:
                    c = np.corrcoef(pre_resid[a][:m], pre_resid[b][:m])[0, 1]
                    corr[a, b] = corr[b, a] = 0.0 if not np.isfinite(c) else c
        return np.sqrt(np.outer(var, var)) * corr

    def gradient(self, weights: dict[str, float]) -> np.ndarray:
        """The contrast's weights on the coefficients (``names`` order; a name not given weighs 0)."""
        return np.array([weights.get(c, 0.0) for c in self.names])

    def contrast(self, weights: dict[str, float]) -> tuple[float, float]:
        g = self.gradient(weights)
        return float(g @ self.beta), float(np.sqrt(max(g @ self.cov @ g, 0.0)))

    def series_weights(self, weights: dict[str, float]) -> np.ndarray:
        """waves x months: the contrast as a linear combination of the waves' difference series."""
        return (self.gradient(weights) @ self.A).reshape(self.n_waves, self.n_months)


class StackedControlledITS(Estimator):
    """Controlled ITS of every adoption wave against never-adopting practices, stacked in event time, per IMD
    quintile and Q1 minus Q5 (module docstring).

    ``data``: one row per wave x quintile x arm x month with ``numerator`` and ``denominator`` (released counts,
    :func:`beyond_averages.its.build_arm_series` per wave with a ``wave`` column); every wave covers the same months.
    ``starts``: wave -> its first month (the first post month). ``autocorrelation``: ``'rule'`` (default: the stated
    rule, Ljung-Box then REML), or ``'ar1_noise'``, ``'random_walk'``, ``'independent'`` to impose one. Options:
    :class:`ITSSettings` fields (``seasonality``, ``harmonics``, ``per``, ``alpha``); the family is gaussian
    (differences of rates). ``practices``: the same rows per practice (a ``practice_id`` column; the practices'
    unreleased counts, used for the variance only); ``inference``: ``'practice_jackknife'`` (the default when
    ``practices`` is given; :mod:`beyond_averages.its.clusters`) or ``'error_model'`` (the default without it).

    Fitted attributes: ``fits_`` (group key -> :class:`StackedFit`), ``weights_`` (wave -> weight), ``starts_``,
    ``n_practices_`` (wave -> practices, when the data has ``n_practices``), ``months_``, ``last_event_`` (wave ->
    the last event month observed), ``inference_``, ``jackknife_`` (the :class:`PracticeJackknife`, or ``None``).
    """

    label = "StackedControlledITS"

    def __init__(self, data: pd.DataFrame, starts: dict, *, wave_col: str = "wave", quintile_col: str = "imd_quintile",
                 arm_col: str = "arm", treated="programme", comparison="comparison", time_col: str = "month",
                 autocorrelation: str = "rule", settings: ITSSettings | None = None,
                 practices: pd.DataFrame | None = None, inference: str | None = None, **options):
        self.settings = replace(settings, **options) if settings is not None else ITSSettings(**options)
        s = self.settings
        if s.family != "gaussian" or s.covid == "exclude" or s.transition_months:
            raise InputError(f"{self.label}: needs family='gaussian', covid 'none' or 'indicator' and no transition "
                             f"months (got {s.family!r}, {s.covid!r}, {s.transition_months})")
        inference = inference or ("error_model" if practices is None else "practice_jackknife")
        if inference not in INFERENCE or (inference == "practice_jackknife" and practices is None):
            raise InputError(f"{self.label}: inference {inference!r} is not one of {', '.join(INFERENCE)} or needs "
                             "the practices' counts (argument 'practices')")
        if autocorrelation not in ERROR_MODELS:
            raise InputError(f"{self.label}: autocorrelation {autocorrelation!r} is not one of "
                             f"{', '.join(ERROR_MODELS)}")
        require_columns(data, [wave_col, quintile_col, arm_col, time_col, "numerator", "denominator"], self.label)
        df = data.copy()
        df[time_col] = pd.to_datetime(df[time_col])
        months = pd.DatetimeIndex(sorted(df[time_col].unique()))
        steps = np.diff(period_index(months, "month"))
        if len(months) < 3 or (steps != 1).any():
            raise InputError(f"{self.label}: column {time_col!r} must hold consecutive months")
        if (df["denominator"] <= 0).any() or df[["numerator", "denominator"]].isna().any().any():
            raise InputError(f"{self.label}: columns 'numerator'/'denominator' have missing or non-positive values "
                             "(redacted counts cannot be modelled)")
        df["rate"] = s.per * df["numerator"] / df["denominator"]
        waves = [w.item() if isinstance(w, np.generic) else w for w in sorted(df[wave_col].unique())]
        missing = [w for w in waves if w not in starts]
        if missing:
            raise InputError(f"{self.label}: no start month given for wave(s) {missing} of column {wave_col!r}")
        self.months_, self.waves_ = months, waves
        self.starts_ = {w: pd.Timestamp(starts[w]) for w in waves}
        pos = {w: int(np.searchsorted(months, self.starts_[w])) for w in waves}
        for w, p in pos.items():
            if not s.min_segment_points <= p <= len(months) - 1:
                raise InputError(f"{self.label}: wave {w} starts {self.starts_[w].date()}, leaving {p} months before "
                                 f"it in {time_col!r} (at least {s.min_segment_points} and one month after needed)")
        self.last_event_ = {w: len(months) - 1 - pos[w] for w in waves}
        wide = df.pivot_table(index=[wave_col, quintile_col, arm_col], columns=time_col, values="rate")
        if wide.isna().any().any() or wide.shape[1] != len(months):
            raise InputError(f"{self.label}: every wave, quintile and arm must cover the same months of {time_col!r}")
        before = df[(df[arm_col] == treated)]
        self.weights_ = {}
        for w in waves:
            prior = before[(before[wave_col] == w) & (before[time_col] == months[pos[w] - 1])]
            self.weights_[w] = float(prior["denominator"].sum())
        self.n_practices_ = (df.groupby(wave_col)["n_practices"].first().astype(int).to_dict()
                             if "n_practices" in df else {})
        quintiles = sorted(df[quintile_col].unique())
        diffs = {}
        for q in quintiles:
            diffs[str(int(q))] = np.vstack([wide.loc[(w, q, treated)].to_numpy()
                                            - wide.loc[(w, q, comparison)].to_numpy() for w in waves])
        if str(MOST_DEPRIVED) in diffs and str(LEAST_DEPRIVED) in diffs:
            diffs[CONTRAST_KEY] = diffs[str(MOST_DEPRIVED)] - diffs[str(LEAST_DEPRIVED)]
        forced = None if autocorrelation == "rule" else autocorrelation
        starts_pos = [pos[w] for w in waves]
        self.fits_ = {g: StackedFit(v, months, starts_pos, s, forced) for g, v in diffs.items()}
        self.quintile_col, self.autocorrelation, self.inference_ = quintile_col, autocorrelation, inference
        self.jackknife_ = None
        if inference == "practice_jackknife":
            self.jackknife_ = PracticeJackknife(practices, waves, months, wave_col=wave_col, arm_col=arm_col,
                                                quintile_col=quintile_col, treated=treated, comparison=comparison,
                                                time_col=time_col, per=s.per, source=f"{self.label} practices")

    # -- results ------------------------------------------------------------------------------------------------
    def combination(self, group: str, weights: dict, inference: str | None = None) -> tuple[float, float, float]:
        """``(estimate, standard error, degrees of freedom)`` of a weighted sum of one group's effect terms
        (``weights``: ``w<i>_e<h>`` -> weight, e.g. from :meth:`horizon_weights`, or spread over event months), with
        the fit's inference or ``inference``."""
        fit = self.fits_[group]
        est, se = fit.contrast(weights)
        if (inference or self.inference_) == "practice_jackknife":
            se, df = self._jackknife_se(fit, weights, group)
            return est, se, df
        return est, se, float(fit.df)

    def _row(self, fit: StackedFit, weights: dict, extra: dict, inference: str | None = None) -> dict:
        est, se, df = self.combination(extra["group"], weights, inference)
        q = stats.t.ppf(1 - self.settings.alpha / 2, df)
        p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else np.nan
        return {**extra, "estimate": est, "std_error": se, "ci_lower": est - q * se, "ci_upper": est + q * se,
                "p_value": p}

    def _jackknife_se(self, fit: StackedFit, weights: dict, group: str) -> tuple[float, float]:
        """The practice jackknife's standard error of a weighted mean of waves' event-month effects (``weights``:
        ``w<i>_e<h>`` -> normalised weight, from :meth:`horizon_weights`), and its degrees of freedom."""
        parts = [(MOST_DEPRIVED, 1.0), (LEAST_DEPRIVED, -1.0)] if group == CONTRAST_KEY else [(int(group), 1.0)]
        by_wave: dict[int, dict] = {}
        for name, v in weights.items():
            by_wave.setdefault(int(name[1:].split("_")[0]), {})[name] = v
        waves = {}
        for i, terms in by_wave.items():  # each wave's own effect: its terms' weighted mean
            total = sum(terms.values())
            own = {name: v / total for name, v in terms.items()}
            waves[i] = (fit.contrast(own)[0], fit.series_weights(own))
        sizes = {i: self.weights_[self.waves_[i]] for i in waves}
        base = {i: int(np.searchsorted(self.months_, self.starts_[self.waves_[i]])) - 1 for i in waves}
        var, df = self.jackknife_.variance(self.jackknife_.leave_one_out(waves, sizes, base, parts))
        return float(np.sqrt(var)), df

    def horizon_weights(self, horizon: int) -> dict:
        """Wave -> normalised weight of its effect at ``horizon`` (waves followed that long only)."""
        seen = {w: self.weights_[w] for w in self.waves_ if self.last_event_[w] >= horizon}
        if not seen:
            raise InputError(f"{self.label}: no wave is followed for {horizon} months (longest: "
                             f"{max(self.last_event_.values())})")
        total = sum(seen.values())
        return {w: v / total for w, v in seen.items()}

    def effect_summary(self, horizons=(6, 12, 24), by_wave: bool = False, inference: str | None = None
                       ) -> pd.DataFrame:
        """Effect (percentage points) at each horizon per quintile and Q1 - Q5: ``group, horizon, measure``
        (``absolute``), the tidy columns, then ``waves`` (the waves averaged, e.g. "1, 2") and ``n_waves``. With
        ``by_wave`` one row per wave instead (``wave`` column, its own effect). ``inference``: ``'error_model'``
        for the rule's model-based intervals when the fit's own are the practice jackknife's (a sensitivity)."""
        if inference not in (None, *INFERENCE) or (inference == "practice_jackknife" and self.jackknife_ is None):
            raise InputError(f"{self.label}: inference {inference!r} is not available for this fit")
        rows = []
        for h in (int(x) for x in horizons):
            hw = self.horizon_weights(h)
            for g, fit in self.fits_.items():
                parts = {w: {f"w{self.waves_.index(w)}_e{h}": 1.0} for w in hw} if by_wave else {
                    None: {f"w{self.waves_.index(w)}_e{h}": v for w, v in hw.items()}}
                for w, weights in parts.items():
                    extra = {"group": g, "horizon": h, "measure": "absolute",
                             "waves": ", ".join(str(x) for x in hw), "n_waves": len(hw)}
                    if by_wave:
                        extra["wave"] = w
                    rows.append(self._row(fit, weights, extra, inference))
        keys = ("group", "horizon", "wave", "measure") if by_wave else ("group", "horizon", "measure")
        return tidy_frame(rows, keys=keys)

    def tidy(self) -> pd.DataFrame:
        """The effect at every event month followed by at least one wave, per quintile and Q1 - Q5."""
        return self.effect_summary(range(max(self.last_event_.values()) + 1))

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` plus, per group, the error model the rule chose (``autocorrelation``), the smallest
        Ljung-Box p (``ljung_box_p``), the AR coefficient and white-noise share, the mean correlation between
        waves' residuals, and the pre-start months fitted (``n_obs``)."""
        return self.tidy().merge(self.diagnostics(), on="group", how="left")

    def diagnostics(self) -> pd.DataFrame:
        """Per group: ``inference`` (how the intervals were computed), ``autocorrelation`` (the rule's choice),
        ``ljung_box_p``, ``reason``, ``ar``, ``white_share``, ``wave_correlation`` (mean across pairs of waves),
        ``n_obs`` (pre-start months fitted), ``df`` (the error model's)."""
        rows = []
        for g, f in self.fits_.items():
            c = f.wave_cov
            d = np.sqrt(np.diag(c))
            corr = c / np.outer(d, d)
            off = corr[np.triu_indices(len(d), 1)]
            rows.append({"group": g, "inference": self.inference_, "autocorrelation": f.choice,
                         "ljung_box_p": f.lb_p, "reason": f.reason,
                         "ar": f.phi, "white_share": f.white_share, "rw_ratio": f.rw_ratio,
                         "loglik_ar1_noise": f.loglik.get("ar1_noise", np.nan),
                         "loglik_random_walk": f.loglik.get("random_walk", np.nan),
                         "sigma2": float(np.mean(np.diag(f.wave_cov))),
                         "wave_correlation": float(off.mean()) if off.size else np.nan,
                         "n_obs": int(f.pre.sum()), "df": f.df})
        return pd.DataFrame(rows)

    def plot_data(self) -> pd.DataFrame:
        """:meth:`tidy` (effect by event month with its interval), for the event-time figure."""
        return self.tidy()

    def counterfactual_data(self, group: str) -> pd.DataFrame:
        """Per wave and month of one group: ``wave, month, event_month, observed`` (the difference) and
        ``counterfactual`` (the wave's pre-start trend and seasonality carried forward)."""
        f = self.fits_[group]
        T = f.n_months
        pre_cols = [i for i, c in enumerate(f.names) if "_e" not in c]
        cf = f.X[:, pre_cols] @ f.beta[pre_cols]
        frames = []
        for i, w in enumerate(self.waves_):
            start = int(np.searchsorted(self.months_, self.starts_[w]))
            frames.append(pd.DataFrame({"wave": w, "month": self.months_, "event_month": np.arange(T) - start,
                                        "observed": f.y[i * T:(i + 1) * T], "counterfactual": cf[i * T:(i + 1) * T]}))
        return pd.concat(frames, ignore_index=True)
