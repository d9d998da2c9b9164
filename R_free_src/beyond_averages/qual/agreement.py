"""Agreement between coders who coded the same sources: Cohen's kappa, Krippendorff's alpha, percentage agreement.

Coders come from the codings as recorded (:attr:`~.model.QualData.coder_codings`: REFI-QDA ``creatingUser``, a
``coder`` column, QualCoder's ``Coder``). When the project holds a separate double coding
(:attr:`~.model.QualData.double_coding`: a second coder's independent coding of some sources with the first
coder's coding of them), that is what is compared. Only sources coded by at least two coders are compared. For each code,
every unit gets, from each coder, 1 (coded with it) or 0, and the coefficients compare those binary ratings:

- **passage** level: the units are the passages of those sources (a passage coded by anyone), the rating whether
  the coder applied the code to the passage; a coder who coded nothing in a source has no rating there (missing).
- **character** level (as QualCoder and NVivo compare coding): the units are the characters of each such source
  (code points; positioned passages only), the rating whether the coder's passages with the code cover it.

Codes that no coder applied in the compared sources are left out (nothing to agree on). ``overall`` pools the
units of every code left (each unit-code pair one unit). Percentage agreement is the share of
units on which every rating coder agrees. Cohen's kappa (two coders only; statsmodels' ``cohens_kappa``) and
Krippendorff's alpha for nominal data (any number of coders, missing ratings allowed; the ``krippendorff``
package) are ``NaN`` when undefined (for example, a code no one applied: no variation to agree on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from krippendorff import alpha as _krippendorff_alpha

from .model import QualData

AGREEMENT_COLUMNS = ("level", "theme", "code", "n_coders", "n_units", "percent_agreement", "cohen_kappa",
                     "krippendorff_alpha")
OVERALL = "All codes"


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two binary (or categorical) rating vectors of equal length; NaN when undefined."""
    a, b = np.asarray(a), np.asarray(b)
    values = np.union1d(a, b)
    if len(values) < 2:
        return float("nan")
    table = pd.crosstab(pd.Categorical(a, values), pd.Categorical(b, values), dropna=False).to_numpy()
    expected = (table.sum(0) * table.sum(1)).sum() / table.sum() ** 2
    if np.isclose(expected, 1.0):
        return float("nan")
    # Imported here: statsmodels.stats takes over a second to import, and every chapter that reads the qualitative
    # themes (the discussion, the brief) imports this module without computing a kappa.
    from statsmodels.stats.inter_rater import cohens_kappa
    return float(cohens_kappa(table, return_results=False))


def krippendorff_alpha(ratings: np.ndarray) -> float:
    """Krippendorff's alpha (nominal) of a coders x units array with NaN for missing ratings; NaN when undefined."""
    ratings = np.asarray(ratings, dtype=float)
    pairable = (np.isfinite(ratings).sum(axis=0) >= 2)
    observed = ratings[:, pairable]
    if observed.size == 0 or len(np.unique(observed[np.isfinite(observed)])) < 2:
        return float("nan")
    return float(_krippendorff_alpha(reliability_data=ratings, level_of_measurement="nominal"))


def percent_agreement(ratings: np.ndarray) -> float:
    """Share of units (with two or more ratings) on which every rating agrees, in per cent."""
    ratings = np.asarray(ratings, dtype=float)
    rated = np.isfinite(ratings).sum(axis=0) >= 2
    if not rated.any():
        return float("nan")
    r = ratings[:, rated]
    lo, hi = np.nanmin(r, axis=0), np.nanmax(r, axis=0)
    return float((lo == hi).mean() * 100)


def _statistics(ratings: np.ndarray) -> dict:
    both = np.isfinite(ratings).all(axis=0)
    kappa = cohen_kappa(ratings[0, both], ratings[1, both]) if len(ratings) == 2 else float("nan")
    return {"n_units": int((np.isfinite(ratings).sum(axis=0) >= 2).sum()),
            "percent_agreement": percent_agreement(ratings), "cohen_kappa": kappa,
            "krippendorff_alpha": krippendorff_alpha(ratings)}


def rating_arrays(data: QualData, level: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """``(coders, {code: coders x units array of 1/0/NaN})`` at ``passage`` or ``character`` level."""
    coders = data.coders
    rec = data.coder_codings[data.coder_codings["coder"].isin(coders)].merge(
        data.segments[["segment_id", "source", "start", "end"]], on="segment_id")
    coded_by = rec.groupby("source")["coder"].agg(lambda s: set(s))
    shared = sorted(s for s, who in coded_by.items() if len(who) >= 2)
    arrays: dict[str, np.ndarray] = {}
    for code in data.codebook["code"]:
        blocks = []
        for source in shared:
            here = rec[rec["source"] == source]
            if level == "passage":
                units = list(data.segments.loc[data.segments["source"] == source, "segment_id"])
                block = np.full((len(coders), len(units)), np.nan)
                position = {u: j for j, u in enumerate(units)}
                for i, coder in enumerate(coders):
                    if coder in coded_by[source]:
                        block[i] = 0
                        for sid in here.loc[(here["coder"] == coder) & (here["code"] == code), "segment_id"]:
                            block[i, position[sid]] = 1
            else:
                placed = here.dropna(subset=["start"])
                length = len(data.documents[source]) if source in data.documents else int(placed["end"].max())
                block = np.full((len(coders), length), np.nan)
                for i, coder in enumerate(coders):
                    if coder in coded_by[source]:
                        block[i] = 0
                        mine = placed[(placed["coder"] == coder) & (placed["code"] == code)]
                        for start, end in zip(mine["start"], mine["end"]):
                            block[i, int(start):int(end)] = 1
            blocks.append(block)
        arrays[code] = np.concatenate(blocks, axis=1) if blocks else np.empty((len(coders), 0))
    return coders, arrays


def agreement(data: QualData, levels: tuple[str, ...] = ("passage", "character")) -> pd.DataFrame:
    """Tidy agreement table: per level, one row per code applied by some coder (codebook order) then the
    ``All codes`` row. Columns
    :data:`AGREEMENT_COLUMNS`. Empty when fewer than two named coders coded a common source. Computed on
    ``data.double_coding`` when the project has one (module docstring)."""
    if data.double_coding is not None:
        data = data.double_coding
    rows = []
    theme_of = dict(zip(data.codebook["code"], data.codebook["theme"]))
    if len(data.coders) < 2:
        return pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    for level in levels:
        coders, arrays = rating_arrays(data, level)
        if not any(a.shape[1] for a in arrays.values()):
            continue
        # A code no coder applied in the compared sources has nothing to agree on; pooled, its all-zero units
        # would inflate the overall agreement, so it is left out.
        arrays = {code: a for code, a in arrays.items() if np.nansum(a) > 0}
        if not arrays:
            continue
        for code, ratings in arrays.items():
            rows.append({"level": level, "theme": theme_of[code], "code": code, "n_coders": len(coders),
                         **_statistics(ratings)})
        pooled = np.concatenate(list(arrays.values()), axis=1)
        rows.append({"level": level, "theme": "", "code": OVERALL, "n_coders": len(coders), **_statistics(pooled)})
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
