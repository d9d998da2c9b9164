"""Shared fixtures: a small synthetic extract, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from beyond_averages import config
from beyond_averages.synth import generate_area, generate_population

SMALL = dict(scale=0.03, n_practices=24, seed=123, scenario="narrowing")


@pytest.fixture(scope="session")
def study():
    return config.load_study()


@pytest.fixture(scope="session")
def small_extract(tmp_path_factory, study) -> Path:
    """Population and every area at a small scale (about 60,000 registered patients)."""
    out = tmp_path_factory.mktemp("extract")
    generate_population(out, study, progress=False, **SMALL)
    for area in config.list_areas():
        generate_area(area, out, study, progress=False, **SMALL)
    return out


@pytest.fixture(scope="session")
def chapter_extract(tmp_path_factory, study) -> Path:
    """The default area at a scale where each adoption wave's quintile series survive disclosure control."""
    out = tmp_path_factory.mktemp("chapter_extract")
    settings = dict(scale=0.08, n_practices=24, seed=321, scenario="narrowing")
    generate_population(out, study, progress=False, **settings)
    generate_area(study.default_area, out, study, progress=False, **settings)
    return out
