"""`pip install .` (a copy of the package in site-packages, not the source tree) works: the compendium's files are
found from the working directory, and the package data (the book's templates) travel with the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from beyond_averages import paths


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    # Build from a copy of what the package needs: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(paths.ROOT / name, source / name)
    shutil.copytree(paths.ROOT / "R_free_src", source / "R_free_src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target), str(source)],
                   check=True, cwd=source, env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
    return target


def _run(installed, cwd, code):
    env = {k: v for k, v in os.environ.items() if k not in ("BEYOND_AVERAGES_ROOT", "PYTHONPATH")}
    env["PYTHONPATH"] = str(installed)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)


def test_installed_copy_finds_the_compendium_from_the_working_directory(installed):
    code = ("import beyond_averages, beyond_averages.paths as p, beyond_averages.book.shell as s;"
            "print(beyond_averages.__file__); print(p.ROOT); print(s.TEMPLATES.joinpath('book.html').is_file())")
    for cwd in (paths.ROOT, paths.ROOT / "notebooks"):  # from the root and from a sub-folder, as Jupyter starts
        out = _run(installed, cwd, code).stdout.splitlines()
        assert out[0].startswith(str(installed)), "the installed copy, not the source tree, must be imported"
        assert out[1] == str(paths.ROOT) and out[2] == "True"


def test_installed_copy_runs_a_step(installed):
    out = _run(installed, paths.ROOT, "from beyond_averages.cli import main; main(['check-area'])").stdout
    assert "hypertension_case_finding: ok" in out
