"""The qualitative chapter's analysis in one call: read a coded project and compute every summary it shows."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from .. import paths
from .agreement import agreement
from .csv_import import load_csv_project
from .model import QualData
from .qualcoder import load_qualcoder_csv
from .refi_mapping import load_qdpx
from .summaries import DEFAULT_SEED, co_occurrence, exemplar_quotes, framework_matrix, saturation_curve, theme_summary


@dataclass(frozen=True)
class QualitativeAnalysis:
    """The validated coded data and the tidy summaries of :mod:`.summaries` computed from it.

    ``quotes_per_theme`` and ``seed`` are the settings the exemplar quotes were drawn with.
    """

    data: QualData
    theme_summary: pd.DataFrame
    framework_matrix: pd.DataFrame
    quotes: pd.DataFrame
    co_occurrence: pd.DataFrame
    saturation: pd.DataFrame
    quotes_per_theme: int
    seed: int
    agreement: pd.DataFrame | None = None  # between coders; empty when fewer than two coders are named


def load_project(path: str | os.PathLike) -> QualData:
    """The route by the path: a folder is a CSV project, ``.qdpx``/``.qde`` REFI-QDA, ``.csv`` QualCoder's coding
    report. Relative paths are taken from the repository root."""
    path = paths.resolve(path)
    if path.suffix.lower() in (".qdpx", ".qde"):
        return load_qdpx(path)
    if path.suffix.lower() == ".csv":
        return load_qualcoder_csv(path)
    return load_csv_project(path)


def run_qualitative_analysis(data_dir: str | os.PathLike, quotes_per_theme: int = 2,
                             seed: int = DEFAULT_SEED) -> QualitativeAnalysis:
    """Read the project at ``data_dir`` (:func:`load_project`; relative paths from the repository root) and
    summarise it: theme and code counts, the framework matrix, ``quotes_per_theme`` exemplar quotes per theme drawn
    with ``seed``, code co-occurrence, the saturation curve and agreement between coders."""
    data = load_project(data_dir)
    return QualitativeAnalysis(
        data=data, theme_summary=theme_summary(data), framework_matrix=framework_matrix(data),
        quotes=exemplar_quotes(data, per_theme=quotes_per_theme, seed=seed), co_occurrence=co_occurrence(data),
        saturation=saturation_curve(data), quotes_per_theme=quotes_per_theme, seed=seed,
        agreement=agreement(data))
