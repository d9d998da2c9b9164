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

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..config import Area, Study, load_area, load_study
from ..files import atomic_path, read_parquet, write_parquet
from ..parallel import ordered_map
from .events import VALUE_TRUTH_COLUMNS, simulate_area
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

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
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


def _practice_patients(task: tuple[Study, int, int, pd.Series]) -> pd.DataFrame:
    """One practice's patients, from its own seed (a pool task)."""
    study, seed, i, practice = task
    prng = np.random.default_rng([seed, POPULATION_STREAM, i])
    return make_patients(practice, study, prng, first_patient_id=(i + 1) * PATIENT_ID_BLOCK)


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


def _practice_events(task: tuple) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One practice's events and ground truth, from its own seed (a pool task)."""
    area, study, patients_path, i, pid, practice_re, start, scenario, seed, stream = task
    patients = pq.ParquetFile(patients_path).read_row_group(i).to_pandas()
    for col in ("birth_date", "registration_start", "registration_end", "death_date"):
        patients[col] = pd.to_datetime(patients[col])
    rng = np.random.default_rng([seed, stream, i])
    events, truth, by_ethnicity = simulate_area(area, study, patients, practice_re, start, scenario, rng)
    events = events.sort_values(["patient_id", "event_date", "code"], kind="stable")
    for frame in (truth, by_ethnicity):
        frame.insert(0, "practice_id", pid)
        frame["month"] = (pd.to_datetime(pd.DataFrame({"year": frame["month_index"] // 12,
                                                       "month": frame["month_index"] % 12 + 1, "day": 1})))
    # The value columns (areas with a continuous outcome) go to their own file.
    return (events, truth[[c for c in truth.columns if c != "month_index"]],
            by_ethnicity[[c.name for c in ETHNIC_TRUTH_SCHEMA]])


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
    keys = ["practice_id", "imd_quintile", "month"]
    ok = False
    n_events = 0
    try:
        tasks = ((area, study, out_dir / "patients.parquet", i, pid, float(practice_re[i]), starts.get(pid),
                  settings.scenario, settings.seed, stream) for i, pid in enumerate(ids))
        for events, truth, by_ethnicity in tqdm(ordered_map(_practice_events, tasks, jobs), total=len(ids),
                                                desc=f"events {area.name}", disable=not progress, unit="practice"):
            events_writer.write(events)
            n_events += len(events)
            truth_writer.write(truth[[c.name for c in TRUTH_SCHEMA]])
            ethnic_writer.write(by_ethnicity)
            if value_writer is not None:
                value_writer.write(truth[keys + list(VALUE_TRUTH_COLUMNS)])
        ok = True
    finally:
        events_writer.close(ok)
        truth_writer.close(ok)
        ethnic_writer.close(ok)
        if value_writer is not None:
            value_writer.close(ok)
    write_parquet(programme, out_dir / f"programme_{area.name}.parquet")
    planted = pd.DataFrame({
        "area": area.name, "scenario": settings.scenario, "imd_quintile": list(range(1, 6)),
        "planted_effect_pp": [area.synthetic.effects_pp[settings.scenario][q] for q in range(1, 6)],
        "effect_ramp_months": area.synthetic.effect_ramp_months,
    })
    write_parquet(planted, out_dir / f"planted_effects_{area.name}.parquet")
    return {"area": area.name, "events": n_events, "adopting_practices": len(programme)}
