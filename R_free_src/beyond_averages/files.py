"""Reading and writing files safely: atomic writes and validated reads.

Every output is written to a temporary file in the destination folder and moved into place, so an interrupted run
never leaves a half-written file that Make would take for finished.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


class InputError(ValueError):
    """Bad input: the message names the file, the column and what is wrong with it."""


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, **kwargs) -> None:
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\n")
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a Parquet file byte-stably (no pandas index metadata that could vary, fixed compression)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(None)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], source: str) -> None:
    """Raise :class:`InputError` naming the source and each missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"found {', '.join(repr(c) for c in frame.columns)}"
        )


def describe_rows(frame: pd.DataFrame, mask, limit: int = 3) -> str:
    """The first ``limit`` rows where ``mask`` holds, as 'row i: column=value, ...', for error messages."""
    import numpy as np

    idx = np.flatnonzero(np.asarray(mask))[:limit]
    return "; ".join(f"row {int(i)}: " + ", ".join(f"{k}={v}" for k, v in frame.iloc[i].items()) for i in idx)


def read_yaml_mapping(path: str | os.PathLike, error: type[ValueError] = InputError, missing_hint: str = "") -> dict:
    """A YAML file whose top level is a mapping; ``error`` (naming the file) if missing, not YAML or not a mapping."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise error(f"{path}: not found{missing_hint}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of keys at the top level")
    return data


def read_parquet(path: str | os.PathLike, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file, with an error that names the file and the missing columns."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (run `make data`, or point the configuration at a real extract)")
    import pyarrow.parquet as pq

    schema_names = pq.read_schema(path).names
    if columns is not None:
        columns = list(columns)
        missing = [c for c in columns if c not in schema_names]
        if missing:
            raise InputError(
                f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; found {', '.join(schema_names)}"
            )
    return pd.read_parquet(path, columns=columns)
