"""The extract's data contract (beyond_averages.extract_check) and its use by `measures`: one hand-built tiny extract,
broken one rule at a time (BAD_INPUTS), strict errors, lenient drops, and the generator's own output."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beyond_averages import cli, config
from beyond_averages.extract_check import check_extract
from beyond_averages.files import InputError
from beyond_averages.measures import compute_measures, compute_measures_by_age
from beyond_averages.synth.extract import EVENT_SCHEMA, PATIENT_SCHEMA

AREA = "hypertension_case_finding"
PATIENTS, EVENTS, PROGRAMME = "patients.parquet", f"events_{AREA}.parquet", f"programme_{AREA}.parquet"
PROGRAMME_SCHEMA = pa.schema([("practice_id", pa.string()), ("programme_start", pa.timestamp("s"))])
BP, DIAGNOSIS = "75367002", "38341003"


def _d(text):
    return None if text is None else pd.Timestamp(text).date()


def base_frames() -> dict[str, pd.DataFrame]:
    """Eight valid patients in two practices, their blood pressure events and one adopting practice."""
    patients = pd.DataFrame({
        "patient_id": np.arange(101, 109, dtype=np.int64),
        "practice_id": ["P1"] * 4 + ["P2"] * 4,
        "sex": ["female", "male"] * 4,
        "birth_date": [_d(f"{1940 + 4 * i}-0{1 + i}-01") for i in range(8)],
        "ethnicity": ["White", "Asian", "Black", "Mixed", "Other", "White", "Not recorded", "Asian"],
        "lsoa_code": [f"E0100{i:04d}" for i in range(8)],
        "imd_decile": pd.array([1, 3, 5, 7, 9, 2, 10, None], dtype="Int64"),
        "registration_start": [_d(x) for x in ("2005-03-15", "2010-06-01", "2018-02-20", "2000-01-10",
                                               "2012-12-12", "2019-07-07", "2001-01-31", "2015-05-05")],
        "registration_end": [_d(x) for x in (None, "2021-04-10", None, "2019-09-30", None, None, "2022-02-02", None)],
        "death_date": [_d(x) for x in (None, None, None, "2019-09-30", None, None, "2022-02-02", None)],
    })
    events = pd.DataFrame({
        "patient_id": np.array([101, 101, 102, 103, 104, 105, 105, 106, 107, 108], dtype=np.int64),
        "code": [BP, BP, BP, DIAGNOSIS, BP, BP, BP, BP, BP, BP],
        "event_date": [_d(x) for x in ("2013-05-02", "2019-03-03", "2016-11-11", "2018-03-01", "2017-08-08",
                                       "2020-10-10", "2023-12-28", "2020-01-15", "2014-02-02", "2022-06-06")],
        "value": [np.nan] * 10,
    })
    programme = pd.DataFrame({"practice_id": ["P1"], "programme_start": [pd.Timestamp("2020-01-01")]})
    return {PATIENTS: patients, EVENTS: events, PROGRAMME: programme}


SCHEMAS = {PATIENTS: PATIENT_SCHEMA, EVENTS: EVENT_SCHEMA, PROGRAMME: PROGRAMME_SCHEMA}


def write_extract(folder: Path, frames: dict[str, pd.DataFrame], types: dict | None = None) -> Path:
    """Write ``frames`` as Parquet with the extract's schemas, ``types`` ({file: {column: type}}) overriding them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        schema = SCHEMAS[name]
        for column, typ in (types or {}).get(name, {}).items():
            schema = schema.set(schema.get_field_index(column), pa.field(column, typ))
        schema = pa.schema([f for f in schema if f.name in frame.columns])
        pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), folder / name)
    return folder


@dataclass(frozen=True)
class Bad:
    """One broken rule: the change to the base extract, and what the error must name."""

    id: str
    file: str
    column: str
    rule: str                  # a fragment of the rule as the message states it
    count: int | None          # offending rows (None: a missing file or column has no rows to count)
    change: object             # frames -> None (edits in place)
    types: dict = field(default_factory=dict)
    droppable: bool = False    # lenient mode drops the rows instead of raising


def _set(name, column, rows, value):
    def change(f):
        f[name][column] = f[name][column].astype(object)
        for r in rows:
            f[name].at[r, column] = value
    return change


def _as_text(name, column):
    def change(f):
        f[name][column] = f[name][column].astype(str)
    return change


def _drop_column(name, column):
    def change(f):
        del f[name][column]
    return change


BAD_INPUTS = [
    Bad("patients-missing-column", PATIENTS, "registration_start", "required columns", None,
        _drop_column(PATIENTS, "registration_start")),
    Bad("patients-text-patient-id", PATIENTS, "patient_id", "ids of one kind in every file", 8,
        _as_text(PATIENTS, "patient_id"), {PATIENTS: {"patient_id": pa.string()}}),
    Bad("patients-integer-practice-id", PATIENTS, "practice_id", "must be text", 8,
        lambda f: f[PATIENTS].__setitem__("practice_id", np.arange(8)), {PATIENTS: {"practice_id": pa.int64()}}),
    Bad("patients-text-birth-date", PATIENTS, "birth_date", "must be a date", 8,
        _as_text(PATIENTS, "birth_date"), {PATIENTS: {"birth_date": pa.string()}}),
    Bad("patients-text-imd-decile", PATIENTS, "imd_decile", "must be a number", 8,
        _as_text(PATIENTS, "imd_decile"), {PATIENTS: {"imd_decile": pa.string()}}),
    Bad("patients-duplicate-id", PATIENTS, "patient_id", "patient_id is unique", 2,
        _set(PATIENTS, "patient_id", [1], 101), droppable=True),
    Bad("patients-missing-id", PATIENTS, "patient_id", "patient_id is present", 1,
        _set(PATIENTS, "patient_id", [2], None), droppable=True),
    Bad("patients-missing-birth", PATIENTS, "birth_date", "birth_date is present", 1,
        _set(PATIENTS, "birth_date", [3], None), droppable=True),
    Bad("patients-born-in-future", PATIENTS, "birth_date", "birth_date <= 2023-12-31", 2,
        _set(PATIENTS, "birth_date", [5, 7], _d("2030-01-01")), droppable=True),
    Bad("patients-born-1850", PATIENTS, "birth_date", "birth_date >= 1900-01-01", 1,
        _set(PATIENTS, "birth_date", [0], _d("1850-01-01")), droppable=True),
    Bad("patients-registered-before-birth", PATIENTS, "registration_start", "registration_start >= birth_date", 1,
        _set(PATIENTS, "registration_start", [2], _d("1930-01-01")), droppable=True),
    Bad("patients-end-before-start-same-month", PATIENTS, "registration_end",
        "registration_end >= registration_start", 1,
        _set(PATIENTS, "registration_end", [0], _d("2005-03-01")), droppable=True),
    Bad("patients-death-before-birth", PATIENTS, "death_date", "death_date >= birth_date", 1,
        _set(PATIENTS, "death_date", [4], _d("1930-01-01")), droppable=True),
    Bad("patients-registered-after-death", PATIENTS, "registration_start", "registration_start <= death_date", 1,
        _set(PATIENTS, "death_date", [5], _d("2019-07-01")), droppable=True),
    Bad("patients-unknown-sex", PATIENTS, "sex", "sex is female, male or unknown", 1,
        _set(PATIENTS, "sex", [6], "F"), droppable=True),
    Bad("patients-decile-11", PATIENTS, "imd_decile", "imd_decile is a whole number 1..10", 1,
        _set(PATIENTS, "imd_decile", [1], 11), droppable=True),
    Bad("events-missing-file", EVENTS, "events", "file not found", None, lambda f: f.pop(EVENTS)),
    Bad("events-integer-code", EVENTS, "code", "must be text", 10,
        lambda f: f[EVENTS].__setitem__("code", np.full(10, 75367002)), {EVENTS: {"code": pa.int64()}}),
    Bad("events-text-value", EVENTS, "value", "must be a number", 10,
        _as_text(EVENTS, "value"), {EVENTS: {"value": pa.string()}}),
    Bad("events-dated-1850", EVENTS, "event_date", "event_date >= 1940-01-01", 1,
        _set(EVENTS, "event_date", [0], _d("1850-01-01")), droppable=True),
    Bad("events-dated-2099", EVENTS, "event_date", "event_date <= 2023-12-31", 1,
        _set(EVENTS, "event_date", [4], _d("2099-01-01")), droppable=True),
    Bad("events-missing-date", EVENTS, "event_date", "event_date is present", 1,
        _set(EVENTS, "event_date", [5], None), droppable=True),
    Bad("events-missing-code", EVENTS, "code", "code is present", 1, _set(EVENTS, "code", [6], None),
        droppable=True),
    Bad("events-unknown-patient", EVENTS, "patient_id", "patient_id is in patients.parquet", 2,
        _set(EVENTS, "patient_id", [8, 9], 999), droppable=True),
    Bad("programme-two-rows", PROGRAMME, "practice_id", "one row per practice", 2,
        lambda f: f.__setitem__(PROGRAMME, pd.concat([f[PROGRAMME]] * 2, ignore_index=True))),
    Bad("programme-unknown-practice", PROGRAMME, "practice_id", "practice_id is a practice in patients.parquet", 1,
        _set(PROGRAMME, "practice_id", [0], "P9")),
    Bad("programme-missing-start", PROGRAMME, "programme_start", "programme_start is present", 1,
        _set(PROGRAMME, "programme_start", [0], None)),
    Bad("programme-text-start", PROGRAMME, "programme_start", "must be a date", 1,
        _as_text(PROGRAMME, "programme_start"), {PROGRAMME: {"programme_start": pa.string()}}),
]


def bad_extract(tmp_path: Path, case: Bad) -> Path:
    frames = base_frames()
    case.change(frames)
    return write_extract(tmp_path / "extract", frames, case.types)


def test_the_base_extract_passes(tmp_path, study):
    report = check_extract(write_extract(tmp_path, base_frames()), AREA, study)
    assert report.rows == {PATIENTS: 8, PROGRAMME: 1, EVENTS: 10}
    assert report.dropped == () and report.n_dropped == {PATIENTS: 0, PROGRAMME: 0, EVENTS: 0}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.id for c in BAD_INPUTS])
def test_bad_input_is_one_line_naming_file_column_rule_and_count(tmp_path, study, case):
    folder = bad_extract(tmp_path, case)
    with pytest.raises(InputError) as err:
        check_extract(folder, AREA, study)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(str(folder / case.file)), msg
    assert case.rule in msg
    if case.count is not None:
        assert f"'{case.column}'" in msg
        assert (f" {case.count:,} of " in msg) or (f"all {case.count:,} rows" in msg), msg
        assert "row " in msg  # the first offending rows are shown


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if not c.droppable], ids=lambda c: c.id)
def test_lenient_still_refuses_schema_and_programme_problems(tmp_path, study, case):
    with pytest.raises(InputError, match=case.rule.replace(".", r"\.")):
        check_extract(bad_extract(tmp_path, case), AREA, study, lenient=True)


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if c.droppable], ids=lambda c: c.id)
def test_lenient_drops_exactly_the_bad_rows(tmp_path, study, case):
    report = check_extract(bad_extract(tmp_path, case), AREA, study, lenient=True)
    assert [(d.file, d.column, d.rows) for d in report.dropped if case.rule in d.rule] == [
        (case.file, case.column, case.count)]
    assert report.n_dropped[case.file] == case.count


def test_lenient_measures_equal_those_of_the_cleaned_extract(tmp_path, study, capsys):
    frames = base_frames()
    p, e = frames[PATIENTS], frames[EVENTS]
    p["registration_end"] = p["registration_end"].astype(object)
    p.at[0, "registration_end"] = _d("2005-03-01")          # patient 101: ends before it starts
    p.at[5, "birth_date"] = _d("2030-01-01")                 # patient 106: born in the future
    e["event_date"] = e["event_date"].astype(object)
    e.at[2, "event_date"] = _d("1850-01-01")                 # patient 102's only event
    e.at[8, "patient_id"] = 999                              # an event of nobody
    folder = write_extract(tmp_path / "bad", frames)
    out = tmp_path / "out"
    assert cli.main(["measures", AREA, "--extract", str(folder), "--out", str(out), "--lenient"]) == 0
    log = capsys.readouterr().err.splitlines()
    assert len(log) == 6  # one line per file and rule (the born-2030 patient also starts before birth)
    clean = base_frames()
    clean[PATIENTS] = clean[PATIENTS][~clean[PATIENTS]["patient_id"].isin([101, 106])]
    clean[EVENTS] = clean[EVENTS].drop(index=[2, 8])
    clean[EVENTS] = clean[EVENTS][~clean[EVENTS]["patient_id"].isin([101, 106])]
    clean_dir = write_extract(tmp_path / "clean", clean)
    area = config.load_area(AREA)
    expected = compute_measures(area, clean_dir, study)
    got = pd.read_parquet(out / f"{AREA}.parquet")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["denominator"].sum() > 0 and got["numerator"].sum() > 0
    by_age = pd.read_parquet(out / f"{AREA}_by_age.parquet")
    pd.testing.assert_frame_equal(by_age, compute_measures_by_age(area, clean_dir, study), check_dtype=False)
    summary = json.loads((out / f"{AREA}_extract_check.json").read_text())
    assert summary["mode"] == "lenient"
    assert summary["files"][PATIENTS] == {"rows": 8, "kept": 6, "dropped": 2}
    assert summary["files"][EVENTS] == {"rows": 10, "kept": 5, "dropped": 5}
    assert {(d["file"], d["rule"]): d["rows"] for d in summary["dropped"]}[
        (EVENTS, "its patient is kept in patients.parquet")] == 3  # 101's two, 106's one


def test_strict_measures_write_a_clean_report(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["measures", AREA, "--extract", str(write_extract(tmp_path / "x", base_frames())),
                     "--out", str(out)]) == 0
    summary = json.loads((out / f"{AREA}_extract_check.json").read_text())
    assert summary == {"area": AREA, "mode": "strict",
                       "files": {PATIENTS: {"rows": 8, "kept": 8, "dropped": 0},
                                 PROGRAMME: {"rows": 1, "kept": 1, "dropped": 0},
                                 EVENTS: {"rows": 10, "kept": 10, "dropped": 0}},
                       "dropped": []}


def test_text_ids_in_every_file_are_accepted(tmp_path, study):
    frames = base_frames()
    for name in (PATIENTS, EVENTS):
        frames[name]["patient_id"] = "id-" + frames[name]["patient_id"].astype(str)
    types = {PATIENTS: {"patient_id": pa.string()}, EVENTS: {"patient_id": pa.string()}}
    report = check_extract(write_extract(tmp_path, frames, types), AREA, study)
    assert report.rows[EVENTS] == 10 and report.n_dropped[PATIENTS] == 0


def test_generated_extract_passes_the_strict_check_at_day_level(small_extract, study):
    """Regression: the generator drew registration_end before registration_start within one month."""
    for area in config.list_areas():
        report = check_extract(small_extract, area, study)
        assert report.n_dropped == {name: 0 for name in report.rows}
    p = pd.read_parquet(small_extract / PATIENTS)
    same_month = p["registration_end"].notna() & (
        pd.to_datetime(p["registration_end"]).dt.to_period("M")
        == pd.to_datetime(p["registration_start"]).dt.to_period("M"))
    assert same_month.sum() > 20  # the case the bug was in does occur, and is now in order
    assert (p["registration_end"][same_month] >= p["registration_start"][same_month]).all()


def test_the_data_chapter_states_what_the_check_dropped(tmp_path, study):
    """The sentence reads the report `measures` wrote beside the measures; its counts pass disclosure control."""
    from types import SimpleNamespace

    from beyond_averages.report.study_population import extract_check_sentence
    from beyond_averages.study_population import read_extract_check

    def sentence(check):
        return extract_check_sentence(SimpleNamespace(inputs=SimpleNamespace(extract_check=check),
                                                      rules=study.disclosure_rules))

    measures_file = tmp_path / f"{AREA}.parquet"
    assert read_extract_check(measures_file) is None and sentence(None) == ""
    counts = {PATIENTS: 14_539, EVENTS: 19_730, PROGRAMME: 0}
    (tmp_path / f"{AREA}_extract_check.json").write_text(json.dumps(
        {"area": AREA, "mode": "lenient", "dropped": [],
         "files": {k: {"rows": 10**6, "kept": 10**6 - n, "dropped": n} for k, n in counts.items()}}))
    text = sentence(read_extract_check(measures_file))
    assert "14,540 patient records and 19,730 event records" in text
    assert "[REDACTED] patient records" in sentence({"files": {PATIENTS: {"dropped": 3}, EVENTS: {"dropped": 0}}})
    assert "passed every check" in sentence({"files": {PATIENTS: {"dropped": 0}, EVENTS: {"dropped": 0}}})


def test_the_data_chapter_describes_the_rows_the_lenient_measures_used(small_extract, tmp_path):
    """With --lenient, Table 1 of the data chapter is built from the checked rows, as the measures were: equal to the
    table of a hand-cleaned extract, not to the raw one."""
    import shutil

    from beyond_averages.study_population import population_table, run_population_analysis

    raw, clean, out = tmp_path / "raw", tmp_path / "clean", tmp_path / "out"
    shutil.copytree(small_extract, raw)
    patients = pd.read_parquet(raw / PATIENTS)
    programme = pd.read_parquet(raw / PROGRAMME)
    first_wave = pd.Timestamp(programme["programme_start"].min())
    baseline = (first_wave - pd.DateOffset(months=1)).date()
    # Three patients registered in the baseline month, given a birth date after the study window: the raw extract
    # counts them as registered, the checked one drops them.
    registered = patients[(patients["registration_start"] < baseline) & patients["registration_end"].isna()
                          & patients["death_date"].isna()].index[:3]
    broken = patients.copy()
    broken["birth_date"] = broken["birth_date"].astype(object)
    for row in registered:
        broken.at[row, "birth_date"] = pd.Timestamp("2030-01-01").date()
    pq.write_table(pa.Table.from_pandas(broken, schema=PATIENT_SCHEMA, preserve_index=False), raw / PATIENTS)
    shutil.copytree(raw, clean)
    pq.write_table(pa.Table.from_pandas(patients.drop(index=registered), schema=PATIENT_SCHEMA,
                                        preserve_index=False), clean / PATIENTS)

    assert cli.main(["measures", AREA, "--extract", str(raw), "--out", str(out), "--lenient"]) == 0
    study = config.load_study()
    analysis = run_population_analysis(AREA, out / f"{AREA}.parquet", raw / PROGRAMME, raw)
    area = config.load_area(AREA)
    expected = population_table(area, study, clean, analysis.baseline.month, study.disclosure_rules)
    pd.testing.assert_frame_equal(analysis.population, expected)
    unchecked = population_table(area, study, raw, analysis.baseline.month, study.disclosure_rules)
    assert not unchecked.equals(expected), "the broken rows must matter to Table 1 for this test to mean anything"
    assert json.loads((out / f"{AREA}_extract_check.json").read_text())["files"][PATIENTS]["dropped"] == 3


def _outcome(folder: Path, study, lenient: bool):
    """What check_extract answers: the error message, or the report's rows, drops and kept-row masks."""
    try:
        report = check_extract(folder, AREA, study, lenient=lenient)
    except InputError as err:
        return str(err)
    return report.rows, report.dropped, {name: mask.tolist() for name, mask in report.keep.items()}


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if c.droppable], ids=lambda c: c.id)
def test_the_check_reads_in_batches_and_answers_as_on_the_whole_file(tmp_path, study, case, monkeypatch):
    """Rows are checked batch by batch: with batches of 2 rows across row groups of 3, every message (counts, first
    offending rows and their positions in the file) and every lenient report equal those of one batch per file."""
    from beyond_averages import extract_rows

    folder = bad_extract(tmp_path, case)
    whole = {lenient: _outcome(folder, study, lenient) for lenient in (False, True)}
    for name in (PATIENTS, EVENTS):
        pq.write_table(pq.read_table(folder / name), folder / name, row_group_size=3)
    monkeypatch.setattr(extract_rows, "BATCH_ROWS", 2)
    sizes = []
    read = extract_rows.batches
    monkeypatch.setattr(extract_rows, "batches", lambda *a, **k: ((sizes.append(t.num_rows), (t, o))[1]
                                                                  for t, o in read(*a, **k)))
    assert {lenient: _outcome(folder, study, lenient) for lenient in (False, True)} == whole
    assert max(sizes) == 2 and len(sizes) >= 2 * 5  # row groups 3, 3, 2 of patients: 5 batches in each mode


def test_a_duplicate_id_across_batches_is_found_and_shown_where_it_is(tmp_path, study, monkeypatch):
    """Patients 101 (row 0) and 108 -> 101 (row 7) are four batches apart and the ids no longer increase."""
    from beyond_averages import extract_rows

    monkeypatch.setattr(extract_rows, "BATCH_ROWS", 2)
    frames = base_frames()
    frames[PATIENTS].loc[7, "patient_id"] = 101
    folder = write_extract(tmp_path, frames)
    with pytest.raises(InputError) as err:
        check_extract(folder, AREA, study)
    assert str(err.value) == (f"{folder / PATIENTS}: column 'patient_id' breaks the rule 'patient_id is unique' in "
                              "2 of 8 rows: row 0: patient_id=101; row 7: patient_id=101 (`measures --lenient` "
                              "drops such rows)")
    report = check_extract(folder, AREA, study, lenient=True)
    assert report.keep[PATIENTS].tolist() == [False] + [True] * 6 + [False]
    # Event 9 was patient 108's (now nobody's); events 0 and 1 are patient 101's, dropped with both of its rows.
    assert [(d.file, d.rule, d.rows) for d in report.dropped] == [
        (PATIENTS, "patient_id is unique", 2), (EVENTS, "patient_id is in patients.parquet", 1),
        (EVENTS, "its patient is kept in patients.parquet", 2)]
    assert report.keep[EVENTS].tolist() == [False, False] + [True] * 7 + [False]
