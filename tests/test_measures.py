"""Measures against hand-built patients: registration gaps, age-band edges, look-back windows, deaths."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from beyond_averages import config, measures
from beyond_averages.files import InputError, write_parquet

STUDY_START, STUDY_END = "2020-01-01", "2020-12-01"


def _study(tmp_path):
    base = config.load_study()
    return base.model_copy(update=dict(study_start=dt.date(2020, 1, 1), study_end=dt.date(2020, 12, 1),
                                       extract_dir=tmp_path))


def _area(lookback=3, age_min=45, age_max=None, sex="any", register=None):
    data = config.load_area("hypertension_case_finding").model_dump()
    data["eligibility"] = dict(sex=sex, age_min_years=age_min, age_max_years=age_max, on_register=register)
    data["indicator"] = dict(codelist="blood_pressure_recorded", lookback_months=lookback)
    if register:
        data["synthetic"]["registers"] = {register: {"prevalence_by_quintile": {q: 0.1 for q in range(1, 6)}}}
    return config.Area.model_validate(data)


def _patient(pid, birth="1970-01-01", start="2010-01-01", end=None, death=None, sex="female", decile=1,
             practice="P0001"):
    return dict(patient_id=pid, practice_id=practice, sex=sex, birth_date=pd.Timestamp(birth),
                imd_decile=decile, registration_start=pd.Timestamp(start),
                registration_end=pd.Timestamp(end) if end else pd.NaT,
                death_date=pd.Timestamp(death) if death else pd.NaT)


def _write(tmp_path, patients, events, area_name="hypertension_case_finding"):
    p = pd.DataFrame(patients)
    for c in ("birth_date", "registration_start", "registration_end", "death_date"):
        p[c] = p[c].astype("datetime64[s]")
    write_parquet(p, tmp_path / "patients.parquet")
    e = pd.DataFrame(events, columns=["patient_id", "code", "event_date", "value"])
    e["event_date"] = pd.to_datetime(e["event_date"]).astype("datetime64[s]")
    e["value"] = e["value"].astype(float)
    e["code"] = e["code"].astype(str)
    write_parquet(e, tmp_path / f"events_{area_name}.parquet")


def _series(frame, column, quintile=1, practice="P0001"):
    sel = frame[(frame["imd_quintile"] == quintile) & (frame["practice_id"] == practice)].sort_values("month")
    return sel[column].tolist()


BP = "75367002"


def test_lookback_window_counts_event_month_and_following_months(tmp_path):
    _write(tmp_path, [_patient(1)], [(1, BP, "2020-03-15", np.nan)])
    m = measures.compute_measures(_area(lookback=3), tmp_path, _study(tmp_path))
    # An event in March covers March, April and May (3-month look-back), not June.
    assert _series(m, "numerator") == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert _series(m, "denominator") == [1] * 12


def test_overlapping_events_merge_and_ever_indicator(tmp_path):
    events = [(1, BP, "2020-02-01", np.nan), (1, BP, "2020-03-31", np.nan), (1, BP, "2020-09-10", np.nan)]
    _write(tmp_path, [_patient(1)], events)
    m = measures.compute_measures(_area(lookback=3), tmp_path, _study(tmp_path))
    assert _series(m, "numerator") == [0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0]
    ever = measures.compute_measures(_area(lookback=None), tmp_path, _study(tmp_path))
    assert _series(ever, "numerator") == [0] + [1] * 11


def test_event_before_window_and_before_registration_counts(tmp_path):
    # Registered in June; a reading from November 2019 (transferred record) covers to April 2020 with 6 months.
    _write(tmp_path, [_patient(1, start="2020-03-10")], [(1, BP, "2019-11-20", np.nan)])
    m = measures.compute_measures(_area(lookback=6), tmp_path, _study(tmp_path))
    assert _series(m, "denominator") == [0, 0] + [1] * 10
    assert _series(m, "numerator") == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_registration_end_and_death_end_eligibility_in_their_month(tmp_path):
    patients = [_patient(1, end="2020-04-30"), _patient(2, death="2020-07-01", end="2020-07-01"),
                _patient(3, start="2020-05-31")]
    _write(tmp_path, patients, [])
    m = measures.compute_measures(_area(), tmp_path, _study(tmp_path))
    # 1: not registered at the end of April; 2: dead on 1 July; 3: registered on 31 May counts for May.
    assert _series(m, "denominator") == [2, 2, 2, 1, 2, 2, 1, 1, 1, 1, 1, 1]


def test_age_band_edges_by_birth_month(tmp_path):
    # 45th birthday month is June 2020: counts from June. 49-year-old (max 49) leaves when turning 50 in March.
    patients = [_patient(1, birth="1975-06-01"), _patient(2, birth="1970-03-01", decile=3)]
    _write(tmp_path, patients, [])
    m = measures.compute_measures(_area(age_min=45, age_max=49), tmp_path, _study(tmp_path))
    assert _series(m, "denominator", quintile=1) == [0] * 5 + [1] * 7
    assert _series(m, "denominator", quintile=2) == [1, 1] + [0] * 10


def test_sex_and_register_eligibility(tmp_path):
    patients = [_patient(1, sex="male"), _patient(2)]
    events = [(2, "38341003", "2020-04-02", np.nan), (2, BP, "2020-01-05", np.nan)]
    _write(tmp_path, patients, events)
    female = measures.compute_measures(_area(sex="female"), tmp_path, _study(tmp_path))
    assert _series(female, "denominator") == [1] * 12
    reg = measures.compute_measures(_area(register="hypertension_diagnosis", lookback=6), tmp_path, _study(tmp_path))
    # On the register from April only; the January reading still covers April-June.
    assert _series(reg, "denominator") == [0, 0, 0] + [1] * 9
    assert _series(reg, "numerator") == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_unknown_imd_left_out_of_quintiles_and_every_cell_present(tmp_path):
    patients = [_patient(1, decile=None), _patient(2, decile=10, practice="P0002")]
    _write(tmp_path, patients, [])
    m = measures.compute_measures(_area(), tmp_path, _study(tmp_path))
    assert len(m) == 2 * 5 * 12
    assert m["denominator"].sum() == 12
    assert _series(m, "denominator", quintile=5, practice="P0002") == [1] * 12


def test_by_age_sums_to_measures_and_splits_at_5_year_birthdays(tmp_path):
    patients = [_patient(1, birth="1970-07-01"), _patient(2, birth="1950-01-01", decile=5)]
    _write(tmp_path, patients, [(1, BP, "2020-01-01", np.nan)])
    area = _area(lookback=12)
    m = measures.compute_measures(area, tmp_path, _study(tmp_path))
    b = measures.compute_measures_by_age(area, tmp_path, _study(tmp_path))
    pd.testing.assert_frame_equal(
        m.groupby(["month", "imd_quintile"])[["numerator", "denominator"]].sum(),
        b.groupby(["month", "imd_quintile"])[["numerator", "denominator"]].sum())
    q1 = b[(b["imd_quintile"] == 1) & (b["denominator"] > 0)]
    # Patient 1 is 49 until June 2020 (band 9 = 45-49), 50 from July (band 10).
    assert q1.groupby("age_band")["denominator"].sum().to_dict() == {9: 6, 10: 6}


def test_bad_inputs_name_file_and_column(tmp_path):
    area, study = _area(), _study(tmp_path)
    with pytest.raises(InputError, match="patients.parquet: file not found"):
        measures.compute_measures(area, tmp_path, study)
    _write(tmp_path, [_patient(1), _patient(1)], [])
    with pytest.raises(InputError, match="'patient_id' has duplicates"):
        measures.compute_measures(area, tmp_path, study)
    _write(tmp_path, [_patient(1, start="2020-05-01", end="2020-03-01")], [])
    with pytest.raises(InputError, match="'registration_end' is before 'registration_start' for patient 1"):
        measures.compute_measures(area, tmp_path, study)
    _write(tmp_path, [_patient(1, decile=11)], [])
    with pytest.raises(InputError, match="column 'imd_decile'"):
        measures.compute_measures(area, tmp_path, study)
    _write(tmp_path, [_patient(1, sex="F")], [])
    with pytest.raises(InputError, match="column 'sex' has value 'F'"):
        measures.compute_measures(area, tmp_path, study)
    p = pd.DataFrame([_patient(1)]).drop(columns=["death_date"])
    write_parquet(p, tmp_path / "patients.parquet")
    with pytest.raises(InputError, match="missing column\\(s\\) 'death_date'"):
        measures.compute_measures(area, tmp_path, study)


def test_measures_equal_generator_ground_truth(small_extract, study):
    """Interval arithmetic and the generator's month-by-month brute force agree exactly, for every area."""
    patients = measures.load_patients(small_extract)
    for name in config.list_areas():
        area = config.load_area(name)
        m = measures.compute_measures(area, small_extract, study, patients)
        truth = pd.read_parquet(small_extract / f"ground_truth_{name}.parquet")
        joined = m.merge(truth, on=["practice_id", "imd_quintile", "month"], suffixes=("", "_truth"),
                         validate="one_to_one")
        assert len(joined) == len(m) == len(truth)
        assert (joined["numerator"] == joined["numerator_truth"]).all(), name
        assert (joined["denominator"] == joined["denominator_truth"]).all(), name
        assert m["denominator"].sum() > 0


def test_measures_are_byte_stable(small_extract, study, tmp_path):
    """Same extract, same measures file, bit for bit (the Make pipeline relies on it)."""
    import hashlib

    area = config.load_area("diabetes_care")
    digests = []
    for run in ("a", "b"):
        write_parquet(measures.compute_measures(area, small_extract, study), tmp_path / f"{run}.parquet")
        digests.append(hashlib.sha256((tmp_path / f"{run}.parquet").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
