"""The disclosure appendix (#15, item 2): every figure and table, the rule applied or why none applies, and its
suppressed and rounded cells; the disclosure functions also report what they did, without changing a number."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from beyond_averages import paths
from beyond_averages.book import load_book, provenance
from beyond_averages.book.disclosure_appendix import UNREGISTERED, count_cells, disclosure_rows, load_register
from beyond_averages.disclosure import (
    DEFAULT_RULES,
    DisclosureRecord,
    disclosure_record,
    is_released,
    release_counts,
    release_counts_recorded,
    round_count,
)
from beyond_averages.files import InputError


def test_the_record_counts_what_the_rule_did():
    raw = [3, 12, 13, 100, math.nan]  # 3 redacted (<= 7); 12 -> 10 and 13 -> 15 moved; 100 kept; NaN not a count
    assert list(np.nan_to_num(round_count(raw), nan=-1)) == [-1, 10, 15, 100, -1]
    assert disclosure_record(raw, round_count(raw)) == DisclosureRecord(cells=4, suppressed=1, rounded=3, changed=2)


def test_recorded_release_gives_the_same_numbers_and_counts_complement_suppression():
    frame = pd.DataFrame({"numerator": [5, 95, 40, 52], "denominator": [50, 100, 6, 203]})
    released, record = release_counts_recorded(frame)
    pd.testing.assert_frame_equal(released, release_counts(frame))
    # numerators: 5 redacted, 95 redacted (100 - 95 = 5 <= 7), 40 redacted (its denominator 6 is); 52 -> 50
    # denominators: 50, 100 kept, 6 redacted, 203 -> 205
    assert list(released["numerator"].fillna(-1)) == [-1, -1, -1, 50]
    assert record == DisclosureRecord(cells=8, suppressed=4, rounded=4, changed=2, rules=DEFAULT_RULES)


def test_table_cells_are_counted_in_the_named_columns_only():
    html = ("<table><thead><tr><th>Wave</th><th>Practices</th><th>Patients</th><th>Rate</th></tr></thead>"
            "<tbody><tr><td>1</td><td>40</td><td>82,570</td><td>12</td></tr>"
            "<tr><td>2</td><td>[REDACTED]</td><td>1,005 (3.1%)</td><td>15</td></tr></tbody></table>")
    assert count_cells(html, ["Practices", "Patients"]) == (1, 3)
    with pytest.raises(InputError, match=r"count column\(s\) \['Patients at start'\] not in the table"):
        count_cells(html, ["Patients at start"])


def test_the_register_states_a_policy_for_non_patient_counts():
    register = load_register(paths.ROOT)
    policy = " ".join(register["policy"].split())
    assert "Counts of practices" in policy and "not patient-level" in policy and "rounded" in policy
    scopes = {e["scope"] for e in register["outputs"].values()}
    assert scopes == {"patient", "not patient-level"}


def test_an_output_missing_from_the_register_is_flagged(tmp_path):
    (tmp_path / "reports/checklists").mkdir(parents=True)
    (tmp_path / "reports/checklists/disclosure.yaml").write_text(yaml.safe_dump({"outputs": {}}))
    record = provenance.OutputRecord("tbl-x", "Table", "reports/executed/x.ipynb", "notebooks/x.ipynb", (), (),
                                     "0" * 64, "not a git checkout")
    (row,) = disclosure_rows(tmp_path, [record])
    assert row["label"] == "tbl-x" and row["rule"] == UNREGISTERED


def test_a_non_patient_output_without_a_reason_is_named(tmp_path):
    (tmp_path / "reports/checklists").mkdir(parents=True)
    register = {"outputs": {"tbl-x": {"scope": "not patient-level"}}}
    (tmp_path / "reports/checklists/disclosure.yaml").write_text(yaml.safe_dump(register))
    with pytest.raises(InputError, match=r"^reports/checklists/disclosure\.yaml: tbl-x: a non-patient output needs"):
        load_register(tmp_path)


def test_every_output_of_the_book_has_its_rule_and_cell_counts(executed_book, executed_chapter, chapter_extract, study):
    records = provenance.collect(load_book(executed_book))
    rows = {r["label"]: r for r in disclosure_rows(executed_book, records)}
    assert set(rows) == {r.label for r in records} and len(rows) >= 30
    assert [label for label, row in rows.items() if row["rule"] == UNREGISTERED] == []
    assert rows["tbl-review-counts"]["rule"].startswith("not patient-level: rule does not apply")
    assert rows["fig-its-arms"]["suppressed"] is None  # a figure shows no count
    waves = executed_chapter("did").table("tbl-did-waves")
    header, body = waves[0], waves[1:]
    counts = [row[header.index("Patients at start")] for row in body]
    assert (rows["tbl-did-waves"]["suppressed"], rows["tbl-did-waves"]["rounded"]) == (
        counts.count("[REDACTED]"), len(counts) - counts.count("[REDACTED]"))
    shown = [float(c.replace(",", "")) for c in counts if c != "[REDACTED]"]
    assert shown and is_released(shown)
    # Practices are organisations, not patients: shown exactly, wave by wave and never-adopters last, as the
    # extract's programme and practice files count them.
    import pandas as pd

    practices = [int(row[header.index("Practices")].replace(",", "")) for row in body]
    area = study.default_area
    waves = pd.read_parquet(chapter_extract / f"programme_{area}.parquet")["programme_start"].value_counts()
    n_all = len(pd.read_parquet(chapter_extract / "practices.parquet"))
    assert practices == [int(waves[w]) for w in sorted(waves.index)] + [n_all - int(waves.sum())]
    page = (executed_book / "reports/_book/outputs/appendices/disclosure.html").read_text(encoding="utf-8")
    assert page.count('href="../../reports/executed/did.html#tbl-did-waves"') == 1 and "Counts of practices" in page
