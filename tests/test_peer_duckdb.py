"""The project's measures agree, cell by cell, with an independent patient-month implementation in DuckDB SQL
(``bench/peer_duckdb.py``, written from the documented rules), on a tiny extract of every area."""

from __future__ import annotations

import pytest

from beyond_averages import config
from beyond_averages.measures import compute_measures
from beyond_averages.synth import generate_area, generate_population

pytest.importorskip("duckdb", reason="the DuckDB cross-check needs `pip install duckdb` (used by make bench only)")


def test_every_cell_agrees_with_the_duckdb_patient_month_peer(tmp_path, study, bench_script):
    settings = {"scale": 0.004, "n_practices": 6, "seed": 7, "scenario": "narrowing"}
    generate_population(tmp_path, study, progress=False, **settings)
    peer = bench_script("peer_duckdb")
    for name in config.list_areas():
        generate_area(name, tmp_path, study, progress=False, **settings)
        area = config.load_area(name)
        project = compute_measures(area, tmp_path, study)
        result = peer.compare(project, peer.duckdb_measures(area, study, tmp_path))
        assert result == {"cells": 6 * 5 * study.n_months, "only_one_side": 0, "numerator_mismatches": 0,
                          "denominator_mismatches": 0}, name
        assert project["numerator"].sum() > 0, name
