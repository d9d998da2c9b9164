"""`make` guards the one thing a user types: AREA. An unknown area stops `make` before anything changes, naming the
missing file and listing the known areas; a known area is recorded only after its file validates."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from beyond_averages import config, paths

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def test_unknown_area_stops_before_anything_changes(tmp_path):
    current = paths.ROOT / "outputs" / "current_area.txt"
    before = current.read_bytes() if current.exists() else None
    proc = subprocess.run(["make", "-n", "AREA=no_such_area"], cwd=paths.ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "AREA=no_such_area: no file areas/no_such_area.yaml" in proc.stderr
    for area in config.list_areas():
        assert area in proc.stderr
    assert (current.read_bytes() if current.exists() else None) == before


def test_the_area_is_recorded_only_after_it_validates():
    makefile = (paths.ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(CURRENT_AREA\):.*\n((?:\t.*\n)+)", makefile, re.M)
    assert rule, "the Makefile has a rule for the current-area file"
    recipe = rule.group(1)
    assert recipe.index("check-area $(AREA)") < recipe.index('echo "$(AREA)" > $@')
    assert "$(shell" not in makefile.split("CURRENT_AREA :=")[1].split("\n")[0]  # not written while parsing
