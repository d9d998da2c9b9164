"""The slope and relative index of inequality: a line-by-line port of ``phe_sii`` from the R package
PHEindicatormethods (OHID / UKHSA; GPL-3), including its Monte Carlo confidence intervals.

:class:`SlopeIndexOfInequality` checks a table as ``phe_sii`` does (messages name the column and the row), fits with
:func:`beyond_averages.equity.engine.sii_engine` and answers the result protocol of :mod:`beyond_averages.results`;
:func:`phe_sii` is its functional form. Orientation: see :mod:`beyond_averages.equity` (rank 0 = most deprived).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from beyond_averages.equity.engine import SIISettings, Z95, from_scale, sii_engine, to_scale
from beyond_averages.equity.gaps import relative_rank
from beyond_averages.files import InputError, require_columns
from beyond_averages.results import Estimator, tidy_frame

MEASURE_ORDER = ("sii", "rii", "intercept")


def show_value(value) -> str:
    """repr of a cell for error messages, without numpy's ``np.float64(...)`` wrapper."""
    return repr(value.item() if isinstance(value, np.generic) else value)


class SlopeIndexOfInequality(Estimator):
    """Slope and relative index of inequality, computed exactly as PHEindicatormethods' ``phe_sii``.

    Method (Low & Low, J Public Health 2004;26:388-395, as implemented by PHE): within each group (``by``), the
    quantiles are ordered most deprived first; each gets its population share ``a`` and the rank midpoint ``b``
    of its slice of the cumulative population (:func:`relative_rank`). The indicator is regressed on ``b`` by least
    squares weighted by ``a`` (PHE fits ``y*sqrt(a) ~ sqrt(a) + b*sqrt(a) - 1``). SII = fitted(1) - fitted(0), the
    modelled difference between the least and most deprived ends of the population; RII = fitted(1) / fitted(0);
    intercept = fitted(0). With ``transform`` the fit is on the log / logit scale (see :class:`SIISettings`).

    Confidence intervals are by simulation: each quantile's value is drawn ``repetitions`` times from a normal
    distribution with its standard error, on the natural (0), log (1, rates) or logit (2, proportions) scale; each
    draw set is refitted and the limits are order statistics at positions ``round(R * (1 - q))`` and
    ``round(R * q)``, ``q = c + (1 - c)/2``, of the sorted draws (PHE's positions). The standard error is ``se`` if
    given, else ``(upper_cl - lower_cl) / (2 * 1.959964)`` on the transformed scale (always 95% limits).

    Inputs mirror ``phe_sii``: ``value`` (or, for proportions, ``x`` with ``value = x / population``) and either
    ``se`` or both ``lower_cl`` and ``upper_cl``. Every group must hold every quantile present in the data (5 to
    100 quantiles); incomplete groups are dropped with a warning, more than 10 quantiles warns about instability.
    Draws use one ``numpy.random.default_rng(seed)`` consumed in sorted group order.

    Fitted attributes: ``estimates`` (one row per group: ``sii``, ``rii``, ``intercept``), ``ranks`` (input rows
    with ``population_share`` and ``relative_rank``), and ``sii``, ``rii``, ``intercept`` as floats when there is a
    single group. The result protocol (:mod:`beyond_averages.results`): ``tidy()`` (one row per group, measure and
    confidence level), ``summary()`` (plus the fit's options), ``effect_summary()`` (the SII rows) and
    ``plot_data()`` (points and fitted line; :mod:`beyond_averages.report.equity` draws them).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        quantile: str = "imd_quintile",
        population: str = "denominator",
        value: str | None = None,
        x: str | None = None,
        se: str | None = None,
        lower_cl: str | None = None,
        upper_cl: str | None = None,
        by: Sequence[str] = (),
        settings: SIISettings | None = None,
        source: str = "data",
        **options,
    ) -> None:
        if settings is not None and options:
            raise InputError("pass either settings=SIISettings(...) or keyword options, not both")
        self.settings = settings if settings is not None else SIISettings(**options)
        self.by = [by] if isinstance(by, str) else list(by)
        self.columns = {"quantile": quantile, "population": population, "value": value, "x": x, "se": se,
                        "lower_cl": lower_cl, "upper_cl": upper_cl}
        self.source = source
        frame = self._validate(data)
        self._fit(frame)

    # -- validation (PHE's checks, with messages that name the column and row) ----------------------------------
    def _validate(self, data: pd.DataFrame) -> pd.DataFrame:
        s, c, src = self.settings, self.columns, self.source
        if not isinstance(data, pd.DataFrame):
            raise InputError(f"{src}: expected a pandas DataFrame, got {type(data).__name__}")
        if c["value"] is None and c["x"] is None:
            raise InputError(f"{src}: SII requires a value column, or an x (numerator) column for a proportion")
        if c["value"] is None and s.value_code != 2:
            raise InputError(f"{src}: an x (numerator) column can stand in for value only when value_type is "
                             f"'proportion'; pass value=")
        if c["se"] is None and (c["lower_cl"] is None or c["upper_cl"] is None):
            raise InputError(f"{src}: SII requires either lower_cl and upper_cl columns, or an se column")
        if s.transform and c["se"] is not None:
            raise InputError(f"{src}: se must be omitted when transform is true (the limits are transformed "
                             f"instead); pass lower_cl= and upper_cl=")
        used = list(dict.fromkeys(v for v in c.values() if v is not None))  # one column may serve twice
        require_columns(data, self.by + used, src)
        for col in [v for k, v in c.items() if v is not None and k != "quantile"]:
            if not pd.api.types.is_numeric_dtype(data[col]) or pd.api.types.is_bool_dtype(data[col]):
                raise InputError(f"{src}: column {col!r} must be numeric; got dtype {data[col].dtype}")
        frame = data[self.by + used].copy()
        self._check_rows(frame, c["population"], lambda v: ~(v > 0), "must be a positive population")
        if c["se"] is not None:
            self._check_rows(frame, c["se"], lambda v: ~(v >= 0), "must be a non-negative standard error")
        for col in (c["lower_cl"], c["upper_cl"]):
            if col is not None and c["se"] is None:
                self._check_rows(frame, col, lambda v: v.isna(), "has a missing confidence limit")
        if c["value"] is not None:
            self._check_rows(frame, c["value"], lambda v: v.isna(), "has a missing value")
        if s.value_code == 2:
            if c["value"] is not None:
                self._check_rows(frame, c["value"], lambda v: (v < 0) | (v > 1),
                                 "must be a proportion between 0 and 1")
            elif c["x"] is not None:
                self._check_rows(frame, c["x"], lambda v: ~(v > 0), "must be a positive count (x)")
            if c["se"] is None:
                for col in (c["lower_cl"], c["upper_cl"]):
                    self._check_rows(frame, col, lambda v: (v < 0) | (v > 1),
                                     "must be a confidence limit between 0 and 1")
        if s.value_code == 1 and c["value"] is not None:
            self._check_rows(frame, c["value"], lambda v: ~(v > 0), "must be a positive rate (value_type 'rate')")
        dup = frame.duplicated(self.by + [c["quantile"]], keep=False)
        if dup.any():
            row = frame.index[dup][0]
            raise InputError(f"{src}: row {show_value(row)}: quantile {show_value(frame.at[row, c['quantile']])} appears more than "
                             f"once in its group; aggregate first or add the grouping column to by=")
        return frame

    def _check_rows(self, frame: pd.DataFrame, col: str, is_bad, problem: str) -> None:
        bad = is_bad(frame[col])
        if bad.any():
            row = frame.index[bad.to_numpy()][0]
            raise InputError(f"{self.source}: column {col!r} {problem}; row {show_value(row)} "
                             f"({self.columns['quantile']} {show_value(frame.at[row, self.columns['quantile']])}) has "
                             f"{show_value(frame.at[row, col])} ({int(bad.sum())} bad row(s) in all)")

    # -- fit -------------------------------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        s, c = self.settings, self.columns
        q = c["quantile"]
        quantiles = np.sort(frame[q].unique())
        k = len(quantiles)
        if k < 5 or k > 100:
            raise InputError(f"{self.source}: number of quantiles in column {q!r} must be between 5 and 100; "
                             f"found {k}")
        if k > 10:
            warnings.warn("Small values can make SII unstable when using a large number of quantiles",
                          UserWarning, stacklevel=3)
        if self.by:
            counts = frame.groupby(self.by, sort=True, dropna=False)[q].transform("size")
            if (counts < k).any():
                dropped = frame.loc[counts < k, self.by].drop_duplicates()
                warnings.warn(f"some records have been removed due to incomplete data: groups "
                              f"{dropped.to_dict('records')} lack some of the {k} quantiles",
                              UserWarning, stacklevel=3)
                frame = frame.loc[counts == k]
        ascending = s.most_deprived == "first"
        frame = frame.sort_values(self.by + [q], ascending=[True] * len(self.by) + [ascending], kind="stable")
        n_groups = len(frame) // k
        shape = (n_groups, k)
        pop = frame[c["population"]].to_numpy("float64").reshape(shape)
        if c["value"] is not None:
            value = frame[c["value"]].to_numpy("float64")
        else:
            value = frame[c["x"]].to_numpy("float64") / frame[c["population"]].to_numpy("float64")
        code = s.value_code
        t = to_scale(value, code).reshape(shape)
        if c["se"] is not None:
            se = frame[c["se"]].to_numpy("float64").reshape(shape)
        else:
            lo = to_scale(frame[c["lower_cl"]].to_numpy("float64"), code)
            hi = to_scale(frame[c["upper_cl"]].to_numpy("float64"), code)
            se = ((hi - lo) / Z95 / 2.0).reshape(shape)
        self._fit_result = sii_engine(t, se, pop, s, np.random.default_rng(s.seed))
        keys = frame[self.by].iloc[::k].reset_index(drop=True) if self.by else pd.DataFrame(index=[0])
        est = keys.copy()
        for name in ("sii", "rii", "intercept"):
            est[name] = self._fit_result[name]
        self.estimates = est
        ranks = frame.copy()
        ranks["population_share"] = (pop / pop.sum(axis=1, keepdims=True)).ravel()
        ranks["relative_rank"] = relative_rank(pop, axis=1).ravel()
        ranks["value"] = value
        self.ranks = ranks.reset_index(drop=True)
        self._keys = keys
        self.n_quantiles = k

    def _single(self, name: str) -> float:
        if len(self.estimates) != 1:
            raise InputError(f"{len(self.estimates)} groups were fitted; read .estimates[{name!r}] instead")
        return float(self.estimates[name].iloc[0])

    @property
    def sii(self) -> float:
        return self._single("sii")

    @property
    def rii(self) -> float:
        return self._single("rii")

    @property
    def intercept(self) -> float:
        return self._single("intercept")

    # -- the result protocol ---------------------------------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """``[by...], measure, confidence``, then ``estimate, std_error, ci_lower, ci_upper, p_value`` (+ ``ci_mad``).

        One row per group, measure (``sii``; ``rii`` and ``intercept`` if requested) and confidence level, in that
        order; the intercept row has no interval (confidence NaN). The limits are simulated, so ``std_error`` and
        ``p_value`` are NaN. ``ci_mad`` (reliability_stat) is PHE's mean absolute difference.
        """
        s, res = self.settings, self._fit_result
        parts = []
        measures = ["sii"] + (["rii"] if s.rii else [])
        for measure in measures:
            for level in s.levels:
                lo, hi, mad = res["limits"][level][measure]
                part = self._keys.copy()
                part["measure"] = measure
                part["confidence"] = level
                part["estimate"] = res[measure]
                part["ci_lower"], part["ci_upper"] = lo, hi
                if s.reliability_stat:
                    part["ci_mad"] = mad
                parts.append(part)
        if s.intercept:
            part = self._keys.copy()
            part["measure"] = "intercept"
            part["confidence"] = np.nan
            part["estimate"] = res["intercept"]
            part["ci_lower"] = part["ci_upper"] = np.nan
            if s.reliability_stat:
                part["ci_mad"] = np.nan
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        out["_m"] = out["measure"].map({m: i for i, m in enumerate(MEASURE_ORDER)})
        out = out.sort_values(self.by + ["_m", "confidence"], kind="stable").drop(columns="_m")
        return tidy_frame(out, keys=(*self.by, "measure", "confidence"))

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` plus the options of the fit: ``quantiles`` (per group), ``repetitions``, ``value_type``
        (PHE's code 0, 1, 2), ``transform`` and ``multiplier``."""
        s = self.settings
        return self.tidy().assign(quantiles=self.n_quantiles, repetitions=int(s.repetitions),
                                  value_type=s.value_code, transform=s.transform, multiplier=float(s.multiplier))

    def effect_summary(self, measure: str = "sii") -> pd.DataFrame:
        """The headline rows of :meth:`tidy`: ``measure`` (default the SII) for every group and confidence level."""
        if measure not in MEASURE_ORDER:
            raise InputError(f"measure must be one of {MEASURE_ORDER}; got {measure!r}")
        table = self.tidy()
        rows = table[table["measure"] == measure]
        if rows.empty:
            raise InputError(f"no {measure!r} rows: pass {measure}=True when fitting")
        return rows.reset_index(drop=True)

    def plot_data(self) -> pd.DataFrame:
        """Points (``kind`` "observed": the input rows with ``relative_rank``, ``population_share`` and ``value`` on
        the output scale) and the fitted line (``kind`` "fitted": ``relative_rank``, ``fitted`` on a grid of 51
        ranks), for every ``group`` (0, 1, ... in the order of ``estimates``)."""
        s = self.settings
        grid = np.linspace(0.0, 1.0, 51)
        scale = abs(s.multiplier)
        lines = []
        for i, row in self.estimates.iterrows():
            if s.transform:
                code = s.value_code
                f0 = row["intercept"] / scale
                b0 = to_scale(np.array([f0]), code)[0]
                f1 = f0 + row["sii"] / s.multiplier
                b1 = to_scale(np.array([f1]), code)[0] - b0
                fitted = from_scale(b0 + b1 * grid, code) * scale
            else:
                # the intercept is reported times |multiplier|, the SII times multiplier
                fitted = row["intercept"] + np.sign(s.multiplier) * row["sii"] * grid
            lines.append(pd.DataFrame({"relative_rank": grid, "fitted": fitted, "group": i}))
        points = self.ranks.assign(value=self.ranks["value"] * scale,
                                   group=np.repeat(np.arange(len(self.estimates)), len(self.ranks) //
                                                   max(len(self.estimates), 1)))
        return pd.concat([points.assign(kind="observed"), pd.concat(lines).assign(kind="fitted")],
                         ignore_index=True)


def phe_sii(data: pd.DataFrame, quantile: str, population: str, **kwargs) -> pd.DataFrame:
    """Functional form of :class:`SlopeIndexOfInequality`: fit and return ``tidy()``.

    Keyword arguments: the column names ``value``, ``x``, ``se``, ``lower_cl``, ``upper_cl``, ``by``, ``source``
    and the :class:`SIISettings` options (``value_type``, ``transform``, ``multiplier``, ``repetitions``,
    ``confidence``, ``rii``, ``intercept``, ``reliability_stat``, ``most_deprived``, ``seed``).

    Deliberate differences from the R function: the intercept is reported times ``abs(multiplier)`` in both
    branches (R scales it only with ``transform``), and the rate back-transformation swaps limits only for a
    negative multiplier (R tests ``< 1``). Neither affects the package's published test cases.
    """
    return SlopeIndexOfInequality(data, quantile=quantile, population=population, **kwargs).tidy()
