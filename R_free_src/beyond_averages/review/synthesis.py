"""Synthesis of the extraction table: counts, harvest-plot data, PROGRESS-Plus coverage, risk of bias.

All functions take the validated extraction frame (:func:`.extraction.read_extraction`) and return tidy frames of
codes and numbers; labels, sentences and figures are added only by :mod:`beyond_averages.report.review`. Studies
are numbered 1..n in the order of the characteristics table (year, then key), and the same numbers label the
harvest and risk-of-bias plots.
Counts here are counts of published studies, not of patients, so they are shown unrounded.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..files import InputError
from .extraction import ROB_COLUMNS, explode
from .vocabulary import DESIGNS, DIRECTIONS, PROGRESS_PLUS, QI_APPROACHES, QUALITY_HEIGHT, ROB_TOOLS

HarvestBy = Literal["qi_approach", "progress_plus"]
HarvestHeight = Literal["quality", "size"]
CountedColumn = Literal["country", "design", "qi_approach", "clinical_area"]
COUNTED: tuple[str, ...] = ("country", "design", "qi_approach", "clinical_area")
VOCABS = {"design": DESIGNS, "qi_approach": QI_APPROACHES, "progress_plus": PROGRESS_PLUS}


def study_order(extraction: pd.DataFrame) -> pd.DataFrame:
    """The extraction sorted by year then key, with ``study_number`` 1..n."""
    ordered = extraction.sort_values(["year", "key"], kind="stable").reset_index(drop=True)
    return ordered.assign(study_number=np.arange(1, len(ordered) + 1))


def summary_counts(extraction: pd.DataFrame, columns: tuple[str, ...] = COUNTED) -> pd.DataFrame:
    """Studies per category of each characteristic: ``characteristic, category, n_studies, percent``.

    A study with two QI approaches counts once under each, so that characteristic's percentages can sum past 100.
    Within a characteristic, categories run from most to fewest studies (ties alphabetically).
    """
    n = len(extraction)
    parts = []
    for column in columns:
        values = explode(extraction, column) if column in ("qi_approach", "progress_plus") else extraction
        counts = values.groupby(column).size().rename("n_studies").reset_index()
        counts = counts.rename(columns={column: "category"}).assign(characteristic=column)
        counts = counts.sort_values(["n_studies", "category"], ascending=[False, True], kind="stable")
        parts.append(counts)
    out = pd.concat(parts, ignore_index=True)[["characteristic", "category", "n_studies"]]
    return out.assign(n_studies=out["n_studies"].astype("int64"), percent=100.0 * out["n_studies"] / n)


def harvest_data(extraction: pd.DataFrame, by: HarvestBy = "qi_approach",
                 height: HarvestHeight = "quality") -> pd.DataFrame:
    """One bar per study and category: ``category, direction, key, study_number, height``.

    ``height="quality"``: 3 for low overall risk of bias, 2 for some concerns/moderate, 1 for high, serious,
    critical, no information or not assessed. ``height="size"``: 1 + 2 x the position of log10(sample size)
    between the smallest and largest study (1 to 3; all 2 when every study has the same size); every study then
    needs ``sample_size``. Studies that did not assess inequalities are kept with direction ``not_assessed``.
    """
    numbered = study_order(extraction)
    if height == "quality":
        h = numbered["rob_overall"].map(QUALITY_HEIGHT).fillna(1).astype("float64")
    elif height == "size":
        missing = numbered.loc[numbered["sample_size"].isna()]
        if len(missing):
            rows = ", ".join(f"row {r} ({k!r})" for r, k in zip(missing["row"], missing["key"]))
            raise InputError(f"extraction: column 'sample_size' is empty for {rows}; bar heights by size need it "
                             "(or use height='quality')")
        logs = np.log10(numbered["sample_size"].astype("float64").to_numpy())
        span = logs.max() - logs.min()
        h = pd.Series(2.0 if span == 0 else 1 + 2 * (logs - logs.min()) / span, index=numbered.index)
    else:
        raise ValueError("height must be 'quality' or 'size'")
    numbered = numbered.assign(height=h)
    long = explode(numbered, by).rename(columns={by: "category"})
    long = long.assign(direction=long["effect_direction"])
    vocab = list(VOCABS[by])
    long = long.assign(_c=long["category"].map(vocab.index), _d=long["direction"].map(list(DIRECTIONS).index))
    long = long.sort_values(["_c", "_d", "study_number"], kind="stable")
    return long[["category", "direction", "key", "study_number", "height", "rob_overall"]].reset_index(drop=True)


def direction_counts(extraction: pd.DataFrame, by: HarvestBy = "qi_approach") -> pd.DataFrame:
    """Studies per category and direction (wide: one column per direction, all directions present)."""
    long = harvest_data(extraction, by)
    table = long.groupby(["category", "direction"]).size().unstack(fill_value=0)
    table = table.reindex(columns=list(DIRECTIONS), fill_value=0)
    order = [c for c in VOCABS[by] if c in table.index]
    return table.loc[order].astype("int64").rename_axis(columns=None).reset_index()


def coverage_matrix(extraction: pd.DataFrame, by: Literal["qi_approach", "study"] = "qi_approach") -> pd.DataFrame:
    """Studies considering each PROGRESS-Plus dimension, by QI approach (counts) or by study (0/1).

    Every dimension is a column, so a dimension no study considered shows as a column of zeros. Index: QI approach
    codes in vocabulary order, or study numbers.
    """
    dims = list(PROGRESS_PLUS)
    long = explode(study_order(extraction), "progress_plus")
    if by == "study":
        index = study_order(extraction)["study_number"]
        table = pd.crosstab(long["study_number"], long["progress_plus"]).reindex(index=index, columns=dims,
                                                                                  fill_value=0)
        return table.astype("int64").rename_axis(index="study_number", columns=None)
    long = explode(long, "qi_approach")
    table = pd.crosstab(long["qi_approach"], long["progress_plus"])
    order = [c for c in QI_APPROACHES if c in set(explode(extraction, "qi_approach")["qi_approach"])]
    return table.reindex(index=order, columns=dims, fill_value=0).astype("int64").rename_axis(
        index="qi_approach", columns=None)


def rob_long(extraction: pd.DataFrame) -> pd.DataFrame:
    """Risk of bias, one row per study and domain: ``key, study_number, tool, domain, domain_label, judgement``.

    ``domain`` is ``D1``… or ``Overall``; studies without a tool are left out.
    """
    rows = []
    for rec in study_order(extraction).to_dict("records"):
        if not rec["rob_tool"]:
            continue
        labels = ROB_TOOLS[rec["rob_tool"]]["domains"]
        for i, label in enumerate(labels):
            rows.append((rec["key"], rec["study_number"], rec["rob_tool"], f"D{i + 1}", label, rec[ROB_COLUMNS[i]],
                         rec["sample_size"]))
        rows.append((rec["key"], rec["study_number"], rec["rob_tool"], "Overall", "Overall risk of bias",
                     rec["rob_overall"], rec["sample_size"]))
    return pd.DataFrame(rows, columns=["key", "study_number", "tool", "domain", "domain_label", "judgement",
                                       "sample_size"])


def rob_summary(extraction: pd.DataFrame, weighted: bool = False) -> pd.DataFrame:
    """Share of studies (or of participants, ``weighted=True``, by ``sample_size``) per tool, domain, judgement.

    Columns ``tool, domain, domain_label, judgement, weight, share``; shares within a tool and domain sum to 1.
    """
    long = rob_long(extraction)
    if weighted:
        missing = long.loc[long["sample_size"].isna(), "key"].unique()
        if len(missing):
            raise InputError(f"extraction: column 'sample_size' is empty for {', '.join(missing)}; weighted "
                             "summaries need it (or use weighted=False)")
        long = long.assign(weight=long["sample_size"].astype("float64"))
    else:
        long = long.assign(weight=1.0)
    out = long.groupby(["tool", "domain", "domain_label", "judgement"], sort=False)["weight"].sum().reset_index()
    out["share"] = out["weight"] / out.groupby(["tool", "domain"])["weight"].transform("sum")
    return out
