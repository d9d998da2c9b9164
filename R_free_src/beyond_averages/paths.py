"""Every directory of the compendium, derived from the repository root in one place.

The root is found from this file's location (``R_free_src/beyond_averages/paths.py``), so paths hold whether the
package is imported from a notebook, a test or the command line. ``BEYOND_AVERAGES_ROOT`` overrides it, which is
how tests run the whole pipeline in a temporary copy.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root (the folder holding ``_quarto.yml``)."""
    override = os.environ.get("BEYOND_AVERAGES_ROOT")
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parents[2]


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
SHARED = ROOT.parent / "shared"                 # the project's shared reference data (beside the checkout)


def resolve(path: str | os.PathLike) -> Path:
    """A path from a notebook parameter or the command line: relative paths are taken from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else ROOT / path


def area_file(area: str) -> Path:
    return AREAS_DIR / f"{area}.yaml"
