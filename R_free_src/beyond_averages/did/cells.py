"""Every ATT(g,t) of one balanced panel, each a 2x2 DiD of group g against its comparison group between period t and
a base period, with the n x cells influence matrix (``did::compute.att_gt`` for panel data).

Base period: ``g - 1 - anticipation`` for post-treatment periods (t >= g); for pre-treatment periods ``t - 1``
(``base_period="varying"``, the R default) or ``g - 1 - anticipation`` (``"universal"``, whose normalised cell at
the base period itself is left out). Comparison units: the never treated, or the not yet treated (never treated plus
units first treated after ``max(t, base) + anticipation``, group g itself excluded).

Without covariates each cell is a difference of (weighted) mean changes, where the three methods of ``did`` coincide.
With covariates it is :func:`beyond_averages.did.drdid.did_2x2` with ``est_method`` "dr", "ipw" or "reg", on the
covariate values of the earlier period of the pair, and its influence function is scaled by n / n_cell as ``did``
does, so that ``var = sum(IF^2) / n^2`` over all n units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from beyond_averages.did.drdid import EstimationError, EstMethod, did_2x2


@dataclass(frozen=True)
class CellDesign:
    """How each cell is built: comparison group, base period rule, anticipation periods, 2x2 estimator."""

    comparison: str = "never_treated"
    base_period: str = "varying"
    anticipation: int = 0
    est_method: EstMethod = "dr"


def _base(gc: int, t: int, design: CellDesign) -> int | None:
    """Base period code of cell (g, t), or None when the cell is not estimated."""
    if t >= gc:
        b = gc - 1 - design.anticipation
    elif design.base_period == "varying":
        b = t - 1
    else:
        b = gc - 1 - design.anticipation
        if t == b:
            return None
    return b if b >= 0 else None


def att_gt_cells(y: np.ndarray, g: np.ndarray, w: np.ndarray, design: CellDesign, x: np.ndarray | None = None):
    """Cells of panel ``y`` (units x periods), first-treated codes ``g`` (inf = never), unit weights ``w`` and
    optional covariates ``x`` (units x periods x k). Returns the cells frame (``group_code, period_code, base_code,
    estimate, n_treated, n_control``), the n x cells influence matrix and the cells that could not be estimated (a
    list of ``(group_code, period_code, reason)``)."""
    n, n_t = y.shape
    rows, ifs, failed = [], [], []
    never, positive = ~np.isfinite(g), w > 0
    groups = {}   # what a group's (or comparison set's) cells share, computed once: (mask, usable, w * mask, sum)

    def group(mask):
        wm = w * mask
        return mask, bool((mask & positive).any()), wm, wm.sum()

    for gc in np.unique(g[np.isfinite(g)]).astype(int):
        treat, treat_ok, wt, wt_sum = group(g == gc)
        n_treat = int(treat.sum())
        for t in range(n_t):
            b = _base(gc, t, design)
            if b is None:
                continue
            key = None if design.comparison == "never_treated" else (gc, max(t, b))
            if key not in groups:
                groups[key] = group(never if key is None else
                                    never | ((g > max(t, b) + design.anticipation) & (g != gc)))
            ctrl, ctrl_ok, wc, wc_sum = groups[key]
            if not treat_ok or not ctrl_ok:
                continue
            dy = y[:, t] - y[:, b]
            if x is None:
                mt = float((wt * dy).sum() / wt_sum)
                mc = float((wc * dy).sum() / wc_sum)
                att, inf = mt - mc, n * (wt * (dy - mt) / wt_sum - wc * (dy - mc) / wc_sum)
            else:
                sub = treat | ctrl
                xs = np.column_stack([np.ones(int(sub.sum())), x[sub, min(t, b), :]])
                try:
                    att, inf_sub = did_2x2(design.est_method, dy[sub], treat[sub].astype(float), xs, w[sub])
                except EstimationError as err:
                    failed.append((int(gc), int(t), str(err)))
                    continue
                inf = np.zeros(n)
                inf[sub] = inf_sub * n / sub.sum()
            rows.append((gc, t, b, att, n_treat, int(ctrl.sum())))
            ifs.append(inf)
    cells = pd.DataFrame(rows, columns=["group_code", "period_code", "base_code", "estimate", "n_treated", "n_control"])
    return cells, (np.column_stack(ifs) if ifs else np.zeros((n, 0))), failed
