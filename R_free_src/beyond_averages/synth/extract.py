"""Write a synthetic extract with the files and schema a trusted research environment would hand out.

Files (Parquet, in ``extract_dir``):

- ``practices.parquet``       one row per practice
- ``patients.parquet``        one row per patient ever registered in the window (one row group per practice)
- ``events_<area>.parquet``   coded clinical events of the area's codelists
- ``programme_<area>.parquet`` practices that adopted the QI programme and the month they started
- ``ground_truth_<area>.parquet`` (synthetic only) the programme's true effect by practice x quintile x month
- ``ground_truth_<area>_values.parquet`` (synthetic, areas with a ``continuous_outcome`` only) the true mean of the
  latest value with and without the programme, as counts and sums by practice x quintile x month

Generation streams practice by practice, so memory stays bounded at full scale, and every random draw comes from a
generator seeded by (seed, stream, practice), so the same seed gives the same files bit for bit, and one area can be
regenerated without touching the others. With ``jobs > 1`` practices are drawn on a process pool and written in
practice order as they come back (:func:`beyond_averages.parallel.ordered_map`): each practice's draws depend only on
its own seed, so the files are the same, byte for byte, for any ``jobs``.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..config import ETHNIC_GROUPS, Area, Study, load_area, load_study
from ..files import atomic_path, read_parquet, write_parquet
from ..parallel import ordered_map
from ..deprivation import imd_quintile_from_decile
from ..months import NEVER, month_index_of
from .events import VALUE_TRUTH_COLUMNS, PatientArrays, PracticeDraws, epoch_days, simulate_practice
from .population import make_patients, make_practices

POPULATION_STREAM = 1
PRACTICE_STREAM = 2
PATIENT_ID_BLOCK = 1_000_000  # patient ids are practice_number * block + sequence: stable when one practice changes
# Scenarios whose adopters are chosen by their baseline level (config.EFFECTS_OF gives their planted effects), and
# how strongly: log-odds of being drawn per SD of the practice's level.
ADOPTION_BY_LEVEL = frozenset({"selection"})
SELECTION_PER_SD = 1.0


def _stream(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


@dataclass(frozen=True)
class SyntheticSettings:
    """What a synthetic run varies; defaults come from ``study.yaml``."""

    seed: int
    scale: float
    n_practices: int
    scenario: str

    @classmethod
    def from_study(cls, study: Study, **overrides) -> "SyntheticSettings":
        base = dict(seed=study.synthetic.seed, scale=study.synthetic.scale,
                    n_practices=study.synthetic.n_practices, scenario=study.synthetic.scenario)
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


def _study_with(study: Study, settings: SyntheticSettings) -> Study:
    syn = study.synthetic.model_copy(update=dict(seed=settings.seed, scale=settings.scale,
                                                 n_practices=settings.n_practices, scenario=settings.scenario))
    return study.model_copy(update=dict(synthetic=syn))


class _StreamWriter:
    """Append DataFrames to one Parquet file as row groups; move it into place only when all went well."""

    def __init__(self, path: Path, schema: pa.Schema):
        self._ctx = atomic_path(path)
        self._tmp = self._ctx.__enter__()
        self._schema = schema
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")

    def write(self, frame: pd.DataFrame | pa.Table) -> None:
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, schema=self._schema,
                                                                              preserve_index=False)
        self._writer.write_table(table)

    def close(self, ok: bool = True) -> None:
        self._writer.close()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)


PATIENT_SCHEMA = pa.schema([
    ("patient_id", pa.int64()), ("practice_id", pa.string()), ("sex", pa.string()),
    ("birth_date", pa.date32()), ("ethnicity", pa.string()), ("lsoa_code", pa.string()),
    ("imd_decile", pa.int8()), ("registration_start", pa.date32()), ("registration_end", pa.date32()),
    ("death_date", pa.date32()),
])
EVENT_SCHEMA = pa.schema([
    ("patient_id", pa.int64()), ("code", pa.string()), ("event_date", pa.date32()), ("value", pa.float64()),
])
TRUTH_SCHEMA = pa.schema([
    ("practice_id", pa.string()), ("imd_quintile", pa.int8()), ("month", pa.timestamp("s")),
    ("denominator", pa.int64()), ("numerator", pa.int64()), ("numerator_counterfactual", pa.int64()),
])
# The same truth by ethnic group (``ethnicity`` as in patients.parquet, "Not recorded" included), for checking
# recovery of the ``ethnicity`` scenario's planted effects.
ETHNIC_TRUTH_SCHEMA = pa.schema([
    ("practice_id", pa.string()), ("ethnicity", pa.string()), ("month", pa.timestamp("s")),
    ("denominator", pa.int64()), ("numerator", pa.int64()), ("numerator_counterfactual", pa.int64()),
])
VALUE_TRUTH_SCHEMA = pa.schema([
    ("practice_id", pa.string()), ("imd_quintile", pa.int8()), ("month", pa.timestamp("s")),
    ("value_n", pa.int64()), ("value_sum", pa.float64()),
    ("value_n_counterfactual", pa.int64()), ("value_sum_counterfactual", pa.float64()),
])


def _practice_patients(task: tuple[Study, int, int, pd.Series]) -> pa.Table:
    """One practice's patients, from its own seed (a pool task)."""
    study, seed, i, practice = task
    prng = np.random.default_rng([seed, POPULATION_STREAM, i])
    columns = make_patients(practice, study, prng, first_patient_id=(i + 1) * PATIENT_ID_BLOCK)
    # from_pandas: NaT and NaN are nulls (no date, no IMD decile), as when written from a DataFrame.
    return pa.Table.from_arrays([columns[f.name] if isinstance(columns[f.name], pa.Array)
                                 else pa.array(columns[f.name], f.type, from_pandas=True) for f in PATIENT_SCHEMA],
                                schema=PATIENT_SCHEMA)


def generate_population(out_dir: Path, study: Study | None = None, progress: bool = True, jobs: int = 1,
                        **overrides) -> pd.DataFrame:
    """Write ``practices.parquet`` and ``patients.parquet`` (practices drawn on ``jobs`` processes); return the
    practices."""
    study = study or load_study()
    settings = SyntheticSettings.from_study(study, **overrides)
    study = _study_with(study, settings)
    out_dir = Path(out_dir)
    rng = np.random.default_rng([settings.seed, POPULATION_STREAM])
    practices = make_practices(study, rng)
    writer = _StreamWriter(out_dir / "patients.parquet", PATIENT_SCHEMA)
    ok = False
    try:
        tasks = ((study, settings.seed, i, practice) for i, practice in practices.iterrows())
        for patients in tqdm(ordered_map(_practice_patients, tasks, jobs), total=len(practices), desc="patients",
                             disable=not progress, unit="practice"):
            writer.write(patients)
        ok = True
    finally:
        writer.close(ok)
    write_parquet(practices[["practice_id", "borough"]], out_dir / "practices.parquet")
    return practices


def assign_programme(area: Area, practice_ids: list[str], seed: int, level: np.ndarray | None = None
                     ) -> pd.DataFrame:
    """Adopting practices and their start month: ``share_adopting`` of practices, shared equally between waves.

    Without ``level`` every practice is equally likely to adopt. With ``level`` (the ``selection`` scenario: each
    practice's own baseline level of the indicator, its logit random effect, i.e. its level at a given deprivation
    and age mix) adopters are drawn without replacement with weights ``exp(SELECTION_PER_SD * level / sd(level))``:
    a practice one SD above another is e (about 2.7) times as likely to be drawn first. Waves are then assigned
    at random, as without ``level``.
    """
    rng = np.random.default_rng([seed, _stream(area.name), PRACTICE_STREAM])
    n = len(practice_ids)
    n_adopt = int(round(area.programme.share_adopting * n))
    if level is None:
        chosen = np.sort(rng.choice(n, size=n_adopt, replace=False))
    else:
        level = np.asarray(level, dtype=float)
        if level.shape != (n,) or not np.isfinite(level).all():
            raise ValueError(f"level must hold one finite value per practice ({n}); got shape {level.shape}")
        sd = level.std()
        w = np.exp(SELECTION_PER_SD * (level - level.mean()) / (sd if sd > 0 else 1.0))
        chosen = np.sort(rng.choice(n, size=n_adopt, replace=False, p=w / w.sum()))
    waves = np.array([pd.Timestamp(w) for w in area.programme.waves])
    wave_of = waves[rng.permutation(np.arange(n_adopt) % len(waves))]
    return pd.DataFrame({
        "practice_id": [practice_ids[i] for i in chosen],
        "programme_start": pd.to_datetime(wave_of).astype("datetime64[s]"),
    })


_OPEN_PATIENT_FILES: dict[tuple, pq.ParquetFile] = {}
PATIENT_ARRAY_COLUMNS = ["patient_id", "birth_date", "registration_start", "registration_end", "death_date",
                         "imd_decile", "sex", "ethnicity"]


def _patients_file(path: Path) -> pq.ParquetFile:
    """``patients.parquet`` opened once per process: re-reading its footer for every practice cost more than reading
    the practice's rows. Keyed by process (forked pool workers open their own handle) and by the file's identity
    and modification time (a regenerated population is opened afresh); :func:`generate_area` lets it go at the
    end."""
    st = os.stat(path)
    key = (os.getpid(), str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _OPEN_PATIENT_FILES:
        _OPEN_PATIENT_FILES.clear()
        _OPEN_PATIENT_FILES[key] = pq.ParquetFile(path)
    return _OPEN_PATIENT_FILES[key]


def _month_indexes(dates: pa.ChunkedArray) -> np.ndarray:
    """Month index of each date32 (null -> ``NEVER``), as :func:`beyond_averages.months.month_index`, in numpy."""
    days = pc.fill_null(pc.cast(dates, pa.int32()), 0).to_numpy()
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12
    months[~pc.is_valid(dates).to_numpy()] = NEVER
    return months


def patient_arrays(table: pa.Table) -> PatientArrays:
    """One practice's rows of ``patients.parquet`` as simulation arrays, straight from Arrow (no pandas)."""
    decile = pc.cast(table["imd_decile"], pa.float64()).to_numpy()  # nulls -> NaN
    ethnic = pc.fill_null(pc.index_in(table["ethnicity"], value_set=pa.array(ETHNIC_GROUPS, pa.string())),
                          len(ETHNIC_GROUPS))   # not recorded (or missing): the last group
    return PatientArrays(
        patient_id=table["patient_id"].to_numpy(),
        birth_m=_month_indexes(table["birth_date"]), reg_start=_month_indexes(table["registration_start"]),
        reg_end=_month_indexes(table["registration_end"]), death_m=_month_indexes(table["death_date"]),
        quintile=np.nan_to_num(imd_quintile_from_decile(decile), nan=0).astype(int),
        female=pc.fill_null(pc.equal(table["sex"], "female"), False).to_numpy(),
        ethnic=ethnic.to_numpy().astype(np.int64))


def _event_table(draws: PracticeDraws) -> pa.Table:
    """The events sorted by patient, date and code (a stable sort: ties keep their draw order)."""
    days = epoch_days(draws.event_month, draws.event_day)
    table_rank = np.unique(draws.code_table, return_inverse=True)[1].reshape(-1)   # codes in string order
    keys = [draws.event_patient, days, table_rank[draws.event_code_index]]
    # One int64 key (patient, day, code rank packed in bits) sorts much faster than np.lexsort of the three.
    bits = [int(k.max() - k.min()).bit_length() if len(k) else 0 for k in keys]
    if not len(days) or sum(bits) > 62:
        order = np.lexsort(keys[::-1])
    else:
        packed = np.zeros(len(days), dtype=np.int64)
        for k, b in zip(keys, bits, strict=True):
            packed <<= b
            packed |= k - k.min()
        order = np.argsort(packed, kind="stable")
    return pa.Table.from_arrays([
        pa.array(draws.event_patient[order], pa.int64()),
        pa.array(draws.code_table, pa.string()).take(pa.array(draws.event_code_index[order])),
        pa.array(days[order].astype(np.int32), pa.int32()).view(pa.date32()),
        pa.array(draws.event_value[order], pa.float64(), from_pandas=True),   # NaN: no value (null)
    ], schema=EVENT_SCHEMA)


def _truth_table(schema: pa.Schema, pid: str, groups: np.ndarray, month_index: np.ndarray,
                 columns: dict[str, np.ndarray]) -> pa.Table:
    """A ground-truth row group: practice, group and month keys, then ``columns`` (all flattened group x month)."""
    n = len(month_index)
    keys = {"practice_id": pa.array([pid] * n, pa.string()),
            schema.names[1]: pa.array(groups, schema.field(1).type),
            "month": pa.array(epoch_days(month_index) * 86_400, pa.int64()).view(pa.timestamp("s"))}
    arrays = [keys[name] if name in keys else pa.array(columns[name], schema.field(name).type, from_pandas=True)
              for name in schema.names]
    return pa.Table.from_arrays(arrays, schema=schema)


def _practice_events(task: tuple) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table | None]:
    """One practice's events and ground truth (by quintile, by ethnic group, and of the value when the area has
    one), from its own seed (a pool task)."""
    area, study, patients_path, i, pid, practice_re, start, scenario, seed, stream = task
    patients = _patients_file(patients_path).read_row_group(i, columns=PATIENT_ARRAY_COLUMNS)
    rng = np.random.default_rng([seed, stream, i])
    draws = simulate_practice(area, study, patient_arrays(patients), practice_re, start, scenario, rng)
    n_months = study.n_months
    months = np.arange(n_months) + month_index_of(study.study_start)
    quintiles = np.repeat(np.arange(1, 6), n_months)
    truth_cols = TRUTH_SCHEMA.names[3:]   # denominator, numerator, numerator_counterfactual
    truth = _truth_table(TRUTH_SCHEMA, pid, quintiles, np.tile(months, 5),
                         {c: a.ravel() for c, a in zip(truth_cols, draws.truth, strict=True)})
    groups = ETHNIC_GROUPS + ("Not recorded",)
    by_ethnicity = _truth_table(ETHNIC_TRUTH_SCHEMA, pid, np.repeat(np.array(groups, dtype=object), n_months),
                                np.tile(months, len(groups)),
                                {c: a.ravel() for c, a in zip(truth_cols, draws.ethnic_truth, strict=True)})
    values = None
    if draws.value_truth is not None:   # the value columns (areas with a continuous outcome) have their own file
        values = _truth_table(VALUE_TRUTH_SCHEMA, pid, quintiles, np.tile(months, 5), {
            c: a.ravel().astype(np.int64) if c.startswith("value_n") else a.ravel()
            for c, a in zip(VALUE_TRUTH_COLUMNS, draws.value_truth, strict=True)})
    return _event_table(draws), truth, by_ethnicity, values


def generate_area(area: Area | str, out_dir: Path, study: Study | None = None, progress: bool = True, jobs: int = 1,
                  **overrides) -> dict:
    """Write the events, programme and ground truth of one area, from the population already in ``out_dir``
    (practices drawn on ``jobs`` processes)."""
    study = study or load_study()
    area = load_area(area) if isinstance(area, str) else area
    settings = SyntheticSettings.from_study(study, **overrides)
    study = _study_with(study, settings)
    out_dir = Path(out_dir)
    practices = read_parquet(out_dir / "practices.parquet")
    ids = practices["practice_id"].tolist()
    stream = _stream(area.name)
    re_rng = np.random.default_rng([settings.seed, stream, PRACTICE_STREAM, 1])
    practice_re = re_rng.normal(0, area.synthetic.practice_logit_sd, size=len(ids))
    # The random effects have their own stream, so drawing them first changes no other draw.
    programme = assign_programme(area, ids, settings.seed,
                                 level=practice_re if settings.scenario in ADOPTION_BY_LEVEL else None)
    starts = dict(zip(programme["practice_id"], programme["programme_start"]))

    patients_file = pq.ParquetFile(out_dir / "patients.parquet")
    if patients_file.num_row_groups != len(ids):
        raise ValueError(f"{out_dir / 'patients.parquet'}: expected one row group per practice "
                         f"({len(ids)}), found {patients_file.num_row_groups}; regenerate the population")
    events_writer = _StreamWriter(out_dir / f"events_{area.name}.parquet", EVENT_SCHEMA)
    truth_writer = _StreamWriter(out_dir / f"ground_truth_{area.name}.parquet", TRUTH_SCHEMA)
    ethnic_writer = _StreamWriter(out_dir / f"ground_truth_by_ethnicity_{area.name}.parquet", ETHNIC_TRUTH_SCHEMA)
    value_writer = (_StreamWriter(out_dir / f"ground_truth_{area.name}_values.parquet", VALUE_TRUTH_SCHEMA)
                    if area.continuous_outcome is not None else None)
    ok = False
    n_events = 0
    try:
        tasks = ((area, study, out_dir / "patients.parquet", i, pid, float(practice_re[i]), starts.get(pid),
                  settings.scenario, settings.seed, stream) for i, pid in enumerate(ids))
        for events, truth, by_ethnicity, values in tqdm(ordered_map(_practice_events, tasks, jobs), total=len(ids),
                                                        desc=f"events {area.name}", disable=not progress,
                                                        unit="practice"):
            events_writer.write(events)
            n_events += len(events)
            truth_writer.write(truth)
            ethnic_writer.write(by_ethnicity)
            if value_writer is not None:
                value_writer.write(values)
        ok = True
    finally:
        events_writer.close(ok)
        truth_writer.close(ok)
        ethnic_writer.close(ok)
        if value_writer is not None:
            value_writer.close(ok)
        _OPEN_PATIENT_FILES.clear()   # hold no handle on the population once the area is written
    write_parquet(programme, out_dir / f"programme_{area.name}.parquet")
    planted = pd.DataFrame({
        "area": area.name, "scenario": settings.scenario, "imd_quintile": list(range(1, 6)),
        "planted_effect_pp": [area.synthetic.effects_pp[settings.scenario][q] for q in range(1, 6)],
        "effect_ramp_months": area.synthetic.effect_ramp_months,
    })
    write_parquet(planted, out_dir / f"planted_effects_{area.name}.parquet")
    return {"area": area.name, "events": n_events, "adopting_practices": len(programme)}
