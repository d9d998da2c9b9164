"""The qualitative chapter's analysis in one call: read a coded CSV project and compute every summary it shows."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from .csv_import import load_csv_project
from .model import QualData
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


def run_qualitative_analysis(data_dir: str | os.PathLike, quotes_per_theme: int = 2,
                             seed: int = DEFAULT_SEED) -> QualitativeAnalysis:
    """Read the CSV project in ``data_dir`` (relative paths from the repository root) and summarise it: theme and
    code counts, the framework matrix, ``quotes_per_theme`` exemplar quotes per theme drawn with ``seed``, code
    co-occurrence and the saturation curve."""
    data = load_csv_project(data_dir)
    return QualitativeAnalysis(
        data=data, theme_summary=theme_summary(data), framework_matrix=framework_matrix(data),
        quotes=exemplar_quotes(data, per_theme=quotes_per_theme, seed=seed), co_occurrence=co_occurrence(data),
        saturation=saturation_curve(data), quotes_per_theme=quotes_per_theme, seed=seed)
