"""Static two-way fixed effects (TWFE) difference-in-differences, optionally by deprivation with the triple
difference; beside it the event study of :mod:`beyond_averages.did.event_study` and the heterogeneity-robust
group-time ATT of :mod:`beyond_averages.did.staggered`.

Which to read. TWFE (``linearmodels.PanelOLS``, unit and time effects) is the familiar regression but is biased when
effects differ across adoption waves or grow with exposure, because already-treated units act as controls
(Callaway & Sant'Anna 2021). :class:`~beyond_averages.did.staggered.GroupTimeATT` compares each wave only with
never-treated or not-yet-treated units and is the headline estimator; TWFE is reported beside it.
:func:`~beyond_averages.did.simulate.monte_carlo` shows the difference on simulated staggered panels.

Estimands and weighting. With ``weights=<denominator column>`` every practice x quintile x month cell counts in
proportion to its patients, so the estimate is the change in the *patient-level* indicator (percentage points),
the estimand of the ground truth (sum of numerator changes / sum of denominators). Unweighted, each cell counts
equally: the average practice's change.

By deprivation. With ``by="imd_quintile"`` the model is fully interacted: unit x quintile effects, quintile x
month effects and one treatment coefficient per quintile. Each coefficient equals the quintile's own DiD and the
joint fit gives their covariance, so the triple difference (programme x post x deprivation) is the contrast
``effect[Q1] - effect[Q5]`` with a cluster-robust SE (clusters = practices).

Clustered SEs: see :mod:`beyond_averages.did.inference` for the small-sample conventions (default: fixest's CR1)
and the few-treated-clusters rule. p-values and intervals use a t distribution with G - 1 degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from beyond_averages import results
from beyond_averages.did.inference import BootWeights, SmallSample, wild_cluster_bootstrap
from beyond_averages.did.regression import PanelRegression
from beyond_averages.did.wild_ci import wild_bootstrap_interval


class TwoWayFixedEffects(PanelRegression):
    """Static TWFE difference-in-differences, optionally one effect per level of ``by`` (e.g. IMD quintile).

    ``y_it = a_i + l_t + beta * D_it + e_it`` with ``D_it = 1`` from the unit's first-treated period on (the
    adoption period is post). With ``by``: unit x by and by x time effects and one ``beta`` per level (term
    ``"<by>=<level>"``). Parameters: ``first_treated`` the column of each unit's first-treatment period (NaN/NaT/0 =
    never); ``weights`` a column of non-negative analytic weights (denominators for the patient-level effect);
    ``cluster`` defaults to ``unit``; ``contrast=(a, b)`` adds ``beta[a] - beta[b]`` (triple difference);
    ``wild_bootstrap`` > 0 adds a restricted wild cluster bootstrap p-value with ``boot_weights`` (Webb default)
    for the overall effect or, with ``by``, the contrast (column ``wild_p_value``) and, unless ``wild_ci=False``,
    its ``1 - alpha`` interval by test inversion (:mod:`~beyond_averages.did.wild_ci`; columns ``wild_ci_lower``,
    ``wild_ci_upper``), seeded by ``seed``.

    Attributes after construction: ``params_``, ``vcov_`` (with the small-sample factor), ``n_obs``,
    ``n_clusters``, ``n_treated_clusters``, ``few_clusters_message``, ``wild_bootstrap_`` (dict or None).
    """

    def __init__(
        self, data: pd.DataFrame, *, outcome: str = "outcome", unit: str = "practice_id", time: str = "month",
        first_treated: str = "programme_start", by: str | None = None, weights: str | None = None,
        cluster: str | None = None, contrast: Sequence | None = None, small_sample: SmallSample = "fixest",
        alpha: float = 0.05, wild_bootstrap: int = 0, boot_weights: BootWeights = "webb", seed: int = 20240601,
        wild_ci: bool = True, source: str = "panel",
    ):
        super().__init__(data, outcome=outcome, unit=unit, time=time, first_treated=first_treated, by=by,
                         weights=weights, cluster=cluster, small_sample=small_sample, alpha=alpha, source=source)
        f = self.frame
        d = f["_treated"].to_numpy(float)
        if by:
            self.levels = sorted(f[by].unique().tolist())
            x = pd.DataFrame({f"{by}={lv}": d * (f[by].to_numpy() == lv) for lv in self.levels})
        else:
            self.levels = []
            x = pd.DataFrame({"treated": d})
        if contrast is not None:
            if not by:
                raise ValueError("contrast needs `by` (the effects to contrast are per level of `by`)")
            contrast = tuple(contrast)
            missing = [c for c in contrast if c not in self.levels]
            if len(contrast) != 2 or missing:
                raise ValueError(f"contrast must be two levels of {by!r} among {self.levels}; got {contrast}")
        self.contrast_levels = contrast
        self._fit(x)
        self.wild_bootstrap_ = None
        if wild_bootstrap:
            cols = x.to_numpy(float)
            coef = 0
            if contrast is not None:
                ia, ib = (self.levels.index(c) for c in contrast)
                cols = cols.copy()
                cols[:, ib] = cols[:, ia] + cols[:, ib]  # beta_a D_a + beta_b D_b = (beta_a - beta_b) D_a + ...
                coef = ia
            yd, xd = self._demeaned(cols)
            w = f[weights].to_numpy(float) if weights else None
            self.wild_bootstrap_ = wild_cluster_bootstrap(yd, xd, self._clusters, coef, weights=w,
                                                          n_boot=wild_bootstrap, kind=boot_weights, seed=seed)
            if wild_ci:
                interval = wild_bootstrap_interval(yd, xd, self._clusters, coef, weights=w, alpha=alpha,
                                                   n_boot=wild_bootstrap, kind=boot_weights, seed=seed)
                self.wild_bootstrap_.update(ci_lower=interval["ci_lower"], ci_upper=interval["ci_upper"])

    def _add_wild(self, row: dict, is_target: bool) -> dict:
        """The bootstrap columns of one tidy row (NaN except on the bootstrapped effect or contrast)."""
        boot = self.wild_bootstrap_ if self.wild_bootstrap_ and is_target else {}
        row["wild_p_value"] = boot.get("p_value", np.nan)
        row["wild_ci_lower"] = boot.get("ci_lower", np.nan)
        row["wild_ci_upper"] = boot.get("ci_upper", np.nan)
        return row

    def contrast(self, a=None, b=None) -> pd.DataFrame:
        """``beta[a] - beta[b]`` (default: the ``contrast`` of construction) as a one-row tidy frame, keyed by
        ``term`` (``"<by>=<a> - <by>=<b>"``), with ``wild_p_value`` and the wild interval when it is the
        bootstrapped contrast."""
        if a is None and b is None:
            if self.contrast_levels is None:
                raise ValueError("no contrast given and none set at construction (contrast=(a, b))")
            a, b = self.contrast_levels
        if not self.by or a not in self.levels or b not in self.levels:
            raise ValueError(f"contrast needs `by` and two of its levels {self.levels}; got {a!r}, {b!r}")
        ta, tb = f"{self.by}={a}", f"{self.by}={b}"
        est = self.params_[ta] - self.params_[tb]
        var = self.vcov_.loc[ta, ta] + self.vcov_.loc[tb, tb] - 2 * self.vcov_.loc[ta, tb]
        row = self._add_wild(self._row(f"{ta} - {tb}", est, var), (a, b) == self.contrast_levels)
        return results.tidy_frame([row], keys=("term",))

    def tidy(self) -> pd.DataFrame:
        """One row per effect (``term``; with ``by`` also its ``level``) and, with ``contrast``, the contrast row
        (``level`` missing); ``wild_p_value``, ``wild_ci_lower`` and ``wild_ci_upper`` on the bootstrapped row."""
        rows = [self._row(t, self.params_[t], self.vcov_.loc[t, t]) for t in self.params_.index]
        for i, row in enumerate(rows):
            self._add_wild(row, i == 0 and self.contrast_levels is None)
        frame = results.tidy_frame(rows, keys=("term",))
        if self.by:
            frame.insert(1, "level", pd.Series(self.levels, dtype=object))
        if self.contrast_levels is not None:
            frame = pd.concat([frame, self.contrast().assign(level=None)[frame.columns]], ignore_index=True)
        return frame

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` with ``n_obs``, ``n_clusters``, ``n_treated_clusters`` and ``small_sample``."""
        return self._fit_info(self.tidy())

    def effect_summary(self) -> pd.DataFrame:
        """The headline: the contrast row when ``contrast`` was set, else every effect row."""
        return self.contrast() if self.contrast_levels is not None else self.tidy()

    def plot_data(self) -> pd.DataFrame:
        return self.tidy()
