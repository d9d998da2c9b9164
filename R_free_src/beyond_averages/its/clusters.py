"""Practice-cluster standard errors for the stacked controlled ITS: a stratified delete-one-practice jackknife.

Why. The stacked ITS's series are ratios of sums over practices (each wave's adopters, and the never-adopting
practices), and its estimate at a horizon is a fixed linear combination of the waves' difference series: least
squares gives ``estimate = a'y`` with ``a`` from the design alone. Each practice's patients stay in its series for
years (an indicator with a five-year look-back carries a chance excess for five years), which is where the series'
autocorrelation comes from. Leaving out one practice at a time and recomputing the estimate carries that
correlation, and the correlation between waves that share the comparison practices, with no time-series model:
clustered inference on the unit that was sampled, as Bertrand, Duflo and Mullainathan (2004) recommend for serially
correlated panels. The recovery study (``bench/recovery_study.py``) chose it over the error model chosen by rule,
whose intervals were wider than the estimates' spread at full scale (``docs/its.md``).

Exact and cheap: with ``a`` fixed, leaving practice ``p`` out changes each ratio to
``(N_t - n_pt) / (D_t - d_pt)`` and the estimate by ``a'(y_(-p) - y)``, so no model is refitted.

Variance: strata are each wave's adopting practices and the never-adopting practices (their draws are independent);
``sum_h (n_h - 1) / n_h sum_(p in h) (theta_(-p) - mean_h)^2`` (the stratified jackknife, as survey packages compute
it), with a t reference on its Satterthwaite degrees of freedom (:meth:`PracticeJackknife.variance`; at most
practices minus strata).

Disclosure: practice-level counts enter the variance only; the estimate and every figure come from the released
(rounded, suppressed) monthly sums, as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.files import InputError, require_columns

COMPARISON_STRATUM = "comparison"


class PracticeJackknife:
    """Delete-one-practice jackknife variance of linear combinations of the stacked ITS's difference series.

    ``practices``: practice-level counts, one row per wave x arm x practice x quintile x month (the comparison
    practices repeated in every wave, as in the arm series), columns ``practice_id``, ``wave_col``, ``arm_col``,
    ``quintile_col``, ``month``, ``numerator``, ``denominator``. ``waves`` and ``months``: the order of the
    estimator's series. ``per``: the rate's multiplier (100 for percentages).
    """

    def __init__(self, practices: pd.DataFrame, waves: list, months: pd.DatetimeIndex, *, wave_col: str = "wave",
                 arm_col: str = "arm", quintile_col: str = "imd_quintile", treated="programme",
                 comparison="comparison", time_col: str = "month", per: float = 100.0, source: str = "practices"):
        require_columns(practices, ["practice_id", wave_col, arm_col, quintile_col, time_col, "numerator",
                                    "denominator"], source)
        df = practices[practices[arm_col].isin([treated, comparison])]
        ids = np.array(sorted(df["practice_id"].astype(str).unique()))
        if ids.size == 0:
            raise InputError(f"{source}: no practice in arm {treated!r} or {comparison!r} of column {arm_col!r}")
        self.months, self.waves, self.per = months, list(waves), float(per)
        self.quintiles = sorted(int(q) for q in df[quintile_col].unique())
        pid = pd.Index(ids).get_indexer(df["practice_id"].astype(str))
        t = months.get_indexer(pd.to_datetime(df[time_col]))
        q = pd.Index(self.quintiles).get_indexer(df[quintile_col].astype(int))
        shape = (len(ids), len(self.quintiles), len(months))
        self.cells = {}  # (wave position, +1 treated / -1 comparison) -> (N, D) over every practice, zero if absent
        strata = pd.Series(pd.NA, index=ids, dtype=object)
        for wi, w in enumerate(self.waves):
            for arm, sign in ((treated, 1.0), (comparison, -1.0)):
                keep = ((df[wave_col] == w) & (df[arm_col] == arm)).to_numpy() & (t >= 0)
                if not keep.any():
                    raise InputError(f"{source}: wave {w!r} has no practice in arm {arm!r}")
                N, D = np.zeros(shape), np.zeros(shape)
                idx = (pid[keep], q[keep], t[keep])
                np.add.at(N, idx, df["numerator"].to_numpy(float)[keep])
                np.add.at(D, idx, df["denominator"].to_numpy(float)[keep])
                self.cells[(wi, sign)] = (N, D)
                label = f"wave {w}" if sign > 0 else COMPARISON_STRATUM
                members = ids[np.unique(pid[keep])]
                clash = strata[members].dropna()
                clash = clash[clash != label]
                if len(clash):
                    raise InputError(f"{source}: practice {clash.index[0]!r} is in {clash.iloc[0]} and in {label}; "
                                     "a practice adopts once and a comparison practice never adopts")
                strata[members] = label
        self.strata = strata.to_numpy()
        self.n_clusters = len(ids)
        self.n_strata = len(set(self.strata))
        self.df = self.n_clusters - self.n_strata
        self.practice_ids = ids

    def series_deltas(self, a: np.ndarray, components: list[tuple[int, float]]) -> np.ndarray:
        """Per practice, the change of ``sum_w a[w] . y_w`` when it is left out; ``a``: waves x months,
        ``components``: (quintile, sign) pairs whose series the estimate combines (Q1 minus Q5: (1, 1), (5, -1))."""
        delta = np.zeros(self.n_clusters)
        for (wi, arm_sign), (N, D) in self.cells.items():
            for quintile, sign in components:
                k = self.quintiles.index(int(quintile))
                n, d = N[:, k], D[:, k]
                total_n, total_d = n.sum(0), d.sum(0)
                member = d.any(axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    rate = total_n / total_d
                    moved = (total_n - n[member]) / (total_d - d[member]) - rate
                change = moved @ a[wi]
                if not np.isfinite(change).all():
                    raise InputError(f"practice jackknife: leaving a practice out empties wave {self.waves[wi]!r}'s "
                                     f"quintile {quintile} series in some month; use the error-model intervals")
                delta[member] += arm_sign * sign * self.per * change
        return delta

    def leave_one_out(self, waves: dict[int, tuple[float, np.ndarray]], sizes: dict[int, float],
                      base_months: dict[int, int], components: list[tuple[int, float]]) -> np.ndarray:
        """Per practice, the change of a weighted mean of waves' effects when it is left out, its weights included.

        ``waves``: wave position -> (the wave's effect, its weights on the series, waves x months); ``sizes``: wave
        position -> its weight before normalising (eligible patients of its adopters, all quintiles, in the month
        ``base_months[wave]``), so an adopter left out also lightens its wave."""
        total = sum(sizes[wi] for wi in waves)
        estimate = sum(sizes[wi] * theta for wi, (theta, _) in waves.items()) / total
        numerator, denominator = np.zeros(self.n_clusters), np.zeros(self.n_clusters)
        for wi, (theta, a) in waves.items():
            own = self.cells[(wi, 1.0)][1][:, :, base_months[wi]].sum(axis=1) if len(waves) > 1 else 0.0
            size = sizes[wi] - own
            numerator += size * (theta + self.series_deltas(a, components))
            denominator += size
        return numerator / denominator - estimate

    def variance(self, deltas: np.ndarray) -> tuple[float, float]:
        """Stratified jackknife variance from the leave-one-out changes (module docstring), and its
        Satterthwaite degrees of freedom: ``(sum_h v_h)^2 / sum_h v_h^2 / (n_h - 1)``, ``v_h`` stratum ``h``'s
        part, so that a variance carried by one wave's few dozen adopters is not given the comparison practices'
        hundreds of degrees of freedom."""
        parts = []
        for stratum in sorted(set(self.strata)):
            d = deltas[self.strata == stratum]
            parts.append(((len(d) - 1) / len(d) * float(((d - d.mean()) ** 2).sum()), len(d) - 1))
        var = sum(v for v, _ in parts)
        spread = sum(v ** 2 / n for v, n in parts if n > 0)
        df = var ** 2 / spread if spread > 0 else float(self.df)
        return var, min(df, float(self.df))
