"""Every directory of the compendium, derived from the compendium's root folder in one place.

The root is the study's folder, not the package's: ``BEYOND_AVERAGES_ROOT`` if set (how tests run the pipeline in a
temporary copy); otherwise the nearest folder at or above the working directory that holds ``study.yaml`` and
``areas/`` (so ``pip install .`` into any environment works from inside a compendium, as ``git`` finds its
repository); otherwise the source tree the package was imported from (an editable install run from elsewhere).
It is found once, when the package is first imported.
"""

from __future__ import annotations

import os
from pathlib import Path


def is_compendium(folder: Path) -> bool:
    return (folder / "study.yaml").is_file() and (folder / "areas").is_dir()


def repo_root() -> Path:
    """The compendium's root folder (see the module docstring for the order of the rules)."""
    override = os.environ.get("BEYOND_AVERAGES_ROOT")
    if override:
        return Path(override).resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if is_compendium(folder):
            return folder
    source = Path(__file__).resolve().parents[2]
    return source if is_compendium(source) else cwd


ROOT = repo_root()
AREAS_DIR = ROOT / "areas"                      # one YAML file per clinical area
DATA_SYNTHETIC = ROOT / "data_synthetic"        # generated extract + ground truth
EXTRACT_DIR = DATA_SYNTHETIC / "extract"        # where `make data` writes the synthetic extract
CALIBRATION_DIR = DATA_SYNTHETIC / "calibration"  # public statistics the generator is calibrated on
OUTPUTS = ROOT / "outputs"                      # measures and other derived tables (git-ignored)
MEASURES_DIR = OUTPUTS / "measures"
NOTEBOOKS = ROOT / "notebooks"
REPORTS = ROOT / "reports"
EXECUTED = REPORTS / "executed"                 # papermill-executed notebooks, listed as book chapters
BOOK = REPORTS / "_book"


def resolve(path: str | os.PathLike) -> Path:
    """A path from a notebook parameter or the command line: relative paths are taken from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else ROOT / path


def area_file(area: str) -> Path:
    return AREAS_DIR / f"{area}.yaml"
