"""The qualitative chapter's analysis in one call: read a coded project and compute every summary it shows."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd

from .. import paths
from .agreement import agreement
from .attribution import (NO_GROUPS, AttributionGroups, attribute, attribute_matrix, attribute_quotes,
                          load_attribution_groups)
from .csv_import import load_csv_project
from .model import QualData
from .qualcoder import load_qualcoder_csv
from .refi_mapping import load_qdpx
from .role_saturation import saturation_by_role
from .summaries import DEFAULT_SEED, co_occurrence, exemplar_quotes, framework_matrix, saturation_curve, theme_summary
from .theory import empty_relations, load_theme_relations, theme_co_occurrence


@dataclass(frozen=True)
class QualitativeAnalysis:
    """The validated coded data and the tidy summaries of :mod:`.summaries` computed from it.

    ``quotes_per_theme`` and ``seed`` are the settings the exemplar quotes were drawn with. ``quotes`` and
    ``framework_matrix`` carry the protected attribution (``attribution``: :mod:`.attribution`), never a role that
    fewer than three participants share; ``theme_summary`` keeps the counts by role, and the chapter's table merges
    them by ``attribution``. ``relations`` are the analyst's relations between themes and ``theme_pairs`` the
    co-occurrence of every pair (:mod:`.theory`); ``role_saturation`` is saturation within each role
    (:mod:`.role_saturation`).
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
    attribution: pd.DataFrame | None = None
    attribution_groups: AttributionGroups = NO_GROUPS
    relations: pd.DataFrame = field(default_factory=empty_relations)
    theme_pairs: pd.DataFrame | None = None
    role_saturation: pd.DataFrame | None = None


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
                             seed: int = DEFAULT_SEED, relations_path: str | os.PathLike | None = None,
                             attribution_path: str | os.PathLike | None = None) -> QualitativeAnalysis:
    """Read the project at ``data_dir`` (:func:`load_project`; relative paths from the repository root) and
    summarise it: theme and code counts, the framework matrix, ``quotes_per_theme`` exemplar quotes per theme drawn
    with ``seed``, code co-occurrence, the saturation curve and agreement between coders; the analyst's relations
    between themes (``relations_path``, ``theme_relations.yaml``; none when ``None``) beside the co-occurrence of
    every pair of themes; the protected attribution of quotes (broader groups from ``attribution_path``,
    ``attribution_groups.yaml``; without it every role under three participants is "participant"); and saturation
    within each role."""
    data = load_project(data_dir)
    groups = load_attribution_groups(None if attribution_path is None else paths.resolve(attribution_path))
    relations = load_theme_relations(None if relations_path is None else paths.resolve(relations_path), data.themes)
    attribution = attribute(data.participants, groups)
    quotes = exemplar_quotes(data, per_theme=quotes_per_theme, seed=seed)
    return QualitativeAnalysis(
        data=data, theme_summary=theme_summary(data),
        framework_matrix=attribute_matrix(framework_matrix(data), attribution),
        quotes=attribute_quotes(quotes, attribution), co_occurrence=co_occurrence(data),
        saturation=saturation_curve(data), quotes_per_theme=quotes_per_theme, seed=seed,
        agreement=agreement(data), attribution=attribution, attribution_groups=groups, relations=relations,
        theme_pairs=theme_co_occurrence(data), role_saturation=saturation_by_role(data, groups))
