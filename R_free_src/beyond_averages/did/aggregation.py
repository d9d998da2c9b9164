"""Aggregations of group-time ATTs, as R ``did::aggte`` computes them, with their influence functions.

Every aggregate is a weighted mean of ATT(g,t) cells; its influence function is the same weighted mean of the cells'
influence functions plus, where the weights are estimated group shares, the term for estimating them (``wif``).

* ``simple``: every post-treatment cell (t >= g, and t <= g + ``max_e``), weighted by group size.
* ``dynamic`` (event study): per event time e = t - g, the cells at e weighted by group size; the overall effect is
  the plain mean over e >= 0. ``balance_e`` keeps only groups observed for at least ``balance_e`` periods after
  adoption and the event times ``balance_e - (T_last - T_first) .. balance_e``, so that every event time averages
  the same groups (``aggte``'s rule); ``min_e``/``max_e`` keep a window of event times.
* ``group``: per group, the plain mean of its post-treatment cells; overall weighted by group size.
* ``calendar``: per period t (from the first adoption on), the post-treatment cells at t weighted by group size;
  overall the plain mean over periods.

Every row also reports its share term apart (``Share``: the ``wif`` part is ``share.w @ (share.a @ att)``), so that
the default small-sample inference (:mod:`beyond_averages.did.inference`, ``share_term_factor``) can treat it apart
from the cells' own influence.

Reference: Callaway B, Sant'Anna PHC. Difference-in-Differences with multiple time periods. Journal of Econometrics
2021;225(2):200-230, section 3 (aggregation), and ``aggte`` / ``compute.aggte`` of R ``did``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

Aggregation = Literal["simple", "dynamic", "group", "calendar"]
AGGREGATIONS = ("simple", "dynamic", "group", "calendar")


@dataclass(frozen=True)
class EventWindow:
    """``aggte``'s ``balance_e``, ``min_e`` and ``max_e`` (None: no restriction)."""

    balance_e: int | None = None
    min_e: int | None = None
    max_e: int | None = None

    def __post_init__(self):
        for name in ("balance_e", "min_e", "max_e"):
            v = getattr(self, name)
            if v is not None and (not float(v).is_integer() or isinstance(v, bool)):
                raise ValueError(f"{name} must be a whole number of periods or None; got {v!r}")
        if self.balance_e is not None and self.balance_e < 0:
            raise ValueError(f"balance_e must be >= 0; got {self.balance_e!r}")
        if self.min_e is not None and self.max_e is not None and self.min_e > self.max_e:
            raise ValueError(f"min_e ({self.min_e}) must not exceed max_e ({self.max_e})")


class Share(NamedTuple):
    """A row's share term, ``w @ (a @ att)``: ``w`` (units x r) the influence of the estimated weights, ``a``
    (r x cells) the combinations of ATT(g,t) estimates they multiply."""

    w: np.ndarray
    a: np.ndarray


def wif(keep_groups: np.ndarray, pg: np.ndarray, w: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Influence of estimating the group-share weights pg/sum(pg) (``did:::wif``): n x len(pg)."""
    ind = np.column_stack([w * (g == gk) - p for gk, p in zip(keep_groups, pg, strict=True)])
    s = pg.sum()
    return ind / s - ind.sum(1, keepdims=True) * (pg / s**2)[None, :]


class Aggregator:
    """The cells of one fit (``group_code``, ``period_code``, ``estimate`` per column of ``inf``), the unit weights
    ``w`` and first-treated codes ``g``, and the number of periods."""

    def __init__(self, cells: pd.DataFrame, inf: np.ndarray, w: np.ndarray, g: np.ndarray, n_periods: int):
        self.cells, self.inf, self.w, self.g, self.n_periods = cells, inf, w, g, n_periods
        self.glist = np.unique(g[np.isfinite(g)]).astype(int)
        self.pg = np.array([np.mean(w * (g == gk)) for gk in self.glist])
        self.gc = cells["group_code"].to_numpy(int)
        self.tc = cells["period_code"].to_numpy(int)
        self.att = cells["estimate"].to_numpy(float)
        self.cell_pg = self.pg[np.searchsorted(self.glist, self.gc)] if len(cells) else np.zeros(0)

    def _select(self, idx: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
        """len(idx) x cells: row j picks cell idx[j] (times ``scale``)."""
        a = np.zeros((len(idx), len(self.att)))
        a[np.arange(len(idx)), idx] = scale
        return a

    def _weighted(self, idx: np.ndarray) -> tuple[float, np.ndarray, Share]:
        """Group-size-weighted mean of cells ``idx`` with the estimated-weights term."""
        pg = self.cell_pg[idx]
        wts = pg / pg.sum()
        share = wif(self.gc[idx], pg, self.w, self.g)
        inf = self.inf[:, idx] @ wts + share @ self.att[idx]
        return float(wts @ self.att[idx]), inf, Share(share, self._select(idx))

    @staticmethod
    def _mean_share(shares: list[Share]) -> Share:
        return Share(np.hstack([s.w for s in shares]) / len(shares), np.vstack([s.a for s in shares]))

    def run(self, kind: Aggregation, window: EventWindow = EventWindow()):
        """``(keys, estimates, influences)`` of the rows per key, ``(estimate, influence)`` of the overall, and the
        share terms (``Share`` or None) of the rows and then of the overall."""
        max_e = np.inf if window.max_e is None else window.max_e
        post = (self.gc <= self.tc) & (self.tc <= self.gc + max_e)
        keys, ests, infs, shares = [], [], [], []
        if kind == "simple":
            est, inf, share = self._weighted(np.flatnonzero(post))
            return keys, ests, infs, (est, inf), [share]
        if kind == "dynamic":
            e = self.tc - self.gc
            include = np.ones(len(e), bool)
            eseq = np.unique(e)
            if window.balance_e is not None:
                include = (self.n_periods - 1 - self.gc) >= window.balance_e
                eseq = np.unique(e[include])
                eseq = eseq[(eseq <= window.balance_e) & (eseq >= window.balance_e - (self.n_periods - 1))]
            if window.min_e is not None:
                eseq = eseq[eseq >= window.min_e]
            if window.max_e is not None:
                eseq = eseq[eseq <= window.max_e]
            for ev in eseq:
                est, inf, share = self._weighted(np.flatnonzero((e == ev) & include))
                keys.append(int(ev)), ests.append(est), infs.append(inf), shares.append(share)
            pos = [i for i, k in enumerate(keys) if k >= 0]
            if not pos:
                raise ValueError("no event time >= 0 left for the overall dynamic effect; widen the window")
            overall = (float(np.mean([ests[i] for i in pos])), np.mean([infs[i] for i in pos], axis=0))
            return keys, ests, infs, overall, shares + [self._mean_share([shares[i] for i in pos])]
        if kind == "group":
            per_g, means = [], []
            for gk in self.glist:
                idx = np.flatnonzero((self.gc == gk) & post)
                if idx.size == 0:
                    continue
                keys.append(int(gk)), ests.append(float(self.att[idx].mean())), infs.append(self.inf[:, idx].mean(1))
                per_g.append(gk), shares.append(None), means.append(self._select(idx, 1.0 / idx.size).sum(0))
            gks = np.array(per_g, dtype=int)
            pg = self.pg[np.searchsorted(self.glist, gks)]
            wts = pg / pg.sum()
            att = np.array(ests)
            share = wif(gks, pg, self.w, self.g)
            inf = np.column_stack(infs) @ wts + share @ att
            return keys, ests, infs, (float(wts @ att), inf), shares + [Share(share, np.vstack(means))]
        if kind == "calendar":
            first = self.glist.min()
            for t in np.unique(self.tc[self.tc >= first]):
                idx = np.flatnonzero((self.tc == t) & (self.gc <= t))
                if idx.size == 0:
                    continue
                est, inf, share = self._weighted(idx)
                keys.append(int(t)), ests.append(est), infs.append(inf), shares.append(share)
            overall = (float(np.mean(ests)), np.mean(infs, axis=0))
            return keys, ests, infs, overall, shares + [self._mean_share(shares)]
        raise ValueError(f"kind must be one of {AGGREGATIONS}; got {kind!r}")
