"""Monthly numerator and denominator per practice x group x month for any equity dimension: IMD quintile, ethnic
group, sex, age band, or the product of two of them (IMD quintile x ethnic group).

The same interval arithmetic as :mod:`beyond_averages.measures.compute` (an eligibility interval per patient, the
covered spans within it, counted into difference arrays and summed over months), with the patient's group in place
of the IMD quintile. For ``imd_quintile`` the counts equal :func:`~beyond_averages.measures.compute_measures` exactly
(``tests/test_equity_dimensions.py``). Age is the one attribute that changes over time: an interval crossing a band
boundary (a birthday) is split there, so each month counts in the band of the patient's completed age at its end
(from the month of birth, as the eligibility rules count it).

This module knows the *attributes* of the extract's data contract (which column, which values, which value means
"not recorded"); what a dimension means for inequality (its order, reference group, disadvantaged end, labels) is
:mod:`beyond_averages.equity.dimensions`, which builds on these codes. Patients whose value is not recorded are left
out, as patients with no IMD are left out of the measures table, unless ``include_unknown=True`` (then they form
their own groups, so the groups add up to every eligible patient).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..config import Area, Study, load_study
from ..files import InputError
from ..months import month_start
from .compute import count_intervals
from .intervals import AreaIntervals, area_intervals
from .reading import Patients, load_patients

SEPARATOR = ":"  # joins the codes of a product's components: "1:Black" = IMD quintile 1 x Black
OUTPUT_COLUMNS = ("area", "month", "practice_id", "dimension", "group", "numerator", "denominator")


@dataclass(frozen=True)
class Attribute:
    """A patient attribute a dimension splits by: its codes (in display order), the code of patients without a
    usable value (None: every patient has one) and, for age, the first completed year of each band."""

    name: str
    codes: tuple[str, ...]
    unknown: str | None
    band_start_years: tuple[int, ...] = ()  # age only: band k holds completed ages [start_k, start_{k+1})

    def all_codes(self, include_unknown: bool) -> tuple[str, ...]:
        return self.codes + ((self.unknown,) if include_unknown and self.unknown is not None else ())


AGE_BAND_START_YEARS = (0, 16, 45, 65, 80)
ATTRIBUTES: dict[str, Attribute] = {
    # IMD quintile of the patient's small area (beyond_averages.deprivation; 1 = most deprived); "0": no address.
    "imd_quintile": Attribute("imd_quintile", ("1", "2", "3", "4", "5"), "0"),
    # The extract's ethnicity column: ONS high-level groups (data_synthetic/DATA_DICTIONARY.md); missing values
    # count as "Not recorded".
    "ethnicity": Attribute("ethnicity", ("Asian", "Black", "Mixed", "White", "Other"), "Not recorded"),
    "sex": Attribute("sex", ("female", "male"), "unknown"),
    "age_band": Attribute("age_band", ("0-15", "16-44", "45-64", "65-79", "80+"), None, AGE_BAND_START_YEARS),
}


def attribute(name: str, key: str = "attribute") -> Attribute:
    if name not in ATTRIBUTES:
        raise InputError(f"{key}: unknown patient attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
    return ATTRIBUTES[name]


def group_codes(attributes: Sequence[str], include_unknown: bool = False) -> tuple[str, ...]:
    """The group codes of the product of ``attributes`` (first attribute slowest), in output order."""
    codes: list[str] = [""]
    for name in attributes:
        codes = [f"{c}{SEPARATOR}{v}" if c else v for c in codes for v in attribute(name).all_codes(include_unknown)]
    return tuple(codes)


def read_patient_attributes(extract_dir: Path, patients: Patients,
                            row_groups: Sequence[int] | None = None) -> dict[str, pd.Categorical]:
    """Ethnicity and sex, one per patient in the order of :func:`load_patients` (the file's order, checked by
    patient id), as categoricals read dictionary-encoded (millions of short strings never become Python objects);
    a missing value is a missing code, counted as the attribute's "not recorded" group."""
    path = Path(extract_dir) / "patients.parquet"
    if not path.exists():
        raise InputError(f"{path}: file not found")
    columns = ["patient_id", "ethnicity", "sex"]
    file = pq.ParquetFile(path, read_dictionary=columns[1:])
    missing = [c for c in columns if c not in file.schema_arrow.names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found "
                         f"{', '.join(file.schema_arrow.names)}")
    table = (file.read(columns=columns, use_threads=False) if row_groups is None
             else file.read_row_groups(list(row_groups), columns=columns, use_threads=False))
    ids = table.column("patient_id").to_numpy()
    if len(ids) != len(patients.patient_id) or not np.array_equal(ids, patients.patient_id):
        raise InputError(f"{path}: column 'patient_id' is not in the order of the patients loaded "
                         "(load_patients and the attributes must read the same rows)")
    out = {}
    for name in columns[1:]:
        column = table.column(name)
        if column.num_chunks > 1:
            column = column.unify_dictionaries()
        values = column.to_pandas()
        out[name] = values.array if isinstance(values.dtype, pd.CategoricalDtype) else pd.Categorical(values)
    return out


def _static_index(name: str, patients: Patients, text: dict, include_unknown: bool, source: str) -> np.ndarray:
    """Each patient's index into the attribute's codes (-1: left out), by a look-up on the few distinct values."""
    attr = ATTRIBUTES[name]
    codes = list(attr.all_codes(include_unknown))
    known = list(attr.codes) + ([attr.unknown] if attr.unknown is not None else [])
    if name == "imd_quintile":
        lookup = np.array([codes.index(str(q)) if str(q) in codes else -1 for q in range(6)], dtype=np.int64)
        return lookup[patients.quintile]
    values = text[name]
    values = values if isinstance(values, pd.Categorical) else pd.Categorical(np.asarray(values, dtype=object))
    categories = [str(c) for c in values.categories]
    used = np.bincount(values.codes[values.codes >= 0], minlength=len(categories)) > 0
    unexpected = [c for c, u in zip(categories, used) if u and c not in known]
    if unexpected:
        raise InputError(f"{source}: column {name!r} has value {unexpected[0]!r}; expected one of "
                         f"{', '.join(sorted(known))}")
    missing_code = codes.index(attr.unknown) if attr.unknown in codes else -1
    # The last entry answers code -1, a missing value: the "not recorded" group.
    lookup = np.array([codes.index(c) if c in codes else -1 for c in categories] + [missing_code], dtype=np.int64)
    return lookup[values.codes]


def _split_by_age(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, birth: np.ndarray, starts: tuple[int, ...]):
    """Split intervals ``[lo, hi)`` (of patient ``rows``) at each age-band boundary: (rows, band, lo, hi) of the
    non-empty pieces. Band k holds months whose completed age (months since the month of birth) is in
    ``[12 * starts[k], 12 * starts[k + 1])``."""
    bounds = [12 * s for s in starts] + [None]
    out = []
    for band in range(len(starts)):
        band_lo = np.maximum(lo, birth[rows] + bounds[band]) if band else lo
        band_hi = hi if bounds[band + 1] is None else np.minimum(hi, birth[rows] + bounds[band + 1])
        keep = band_hi > band_lo
        out.append((rows[keep], np.full(int(keep.sum()), band, dtype=np.int64), band_lo[keep], band_hi[keep]))
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _count(cell: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_cells: int, first: int, n_months: int) -> np.ndarray:
    """Per cell and month, the non-empty intervals ``[lo, hi)`` covering the month (the measures' kernel)."""
    keep = hi > lo
    return count_intervals(cell[keep], lo[keep], hi[keep], n_cells, first, n_months)


def count_by_groups(patients: Patients, iv: AreaIntervals, attributes: Sequence[str], text: dict[str, np.ndarray],
                    include_unknown: bool = False, source: str = "patients.parquet"):
    """Denominator and numerator arrays of shape (practices, groups, months), groups as :func:`group_codes`."""
    names = list(attributes)
    static = [n for n in names if not ATTRIBUTES[n].band_start_years]
    aged = [n for n in names if ATTRIBUTES[n].band_start_years]
    if len(aged) > 1:
        raise InputError(f"attributes {names}: at most one time-varying attribute (age band) per dimension")
    sizes = [len(ATTRIBUTES[n].all_codes(include_unknown)) for n in names]
    n_groups = int(np.prod(sizes))
    # Mixed-radix index of the product, first attribute slowest; the age band's digit is added per piece.
    strides = {n: int(np.prod(sizes[i + 1:])) for i, n in enumerate(names)}
    group = np.zeros(len(patients.patient_id), dtype=np.int64)
    left_out = np.zeros(len(patients.patient_id), dtype=bool)
    for name in static:
        index = _static_index(name, patients, text, include_unknown, source)
        left_out |= index < 0
        group += index * strides[name]
    n_practices = len(patients.practice_ids)
    arrays = []
    for rows, lo, hi in ((None, iv.lo, iv.hi), (iv.rows, iv.num_lo, iv.num_hi)):
        rows = np.arange(len(lo)) if rows is None else rows
        keep = ~left_out[rows]
        rows, lo, hi = rows[keep], lo[keep], hi[keep]
        cell = group[rows]
        if aged:
            rows, band, lo, hi = _split_by_age(rows, lo, hi, patients.birth, ATTRIBUTES[aged[0]].band_start_years)
            cell = group[rows] + band * strides[aged[0]]
        cell = patients.practice[rows] * n_groups + cell
        counts = _count(cell, lo, hi, n_practices * n_groups, iv.first, iv.n_months)
        arrays.append(counts.reshape(n_practices, n_groups, iv.n_months))
    return arrays[0], arrays[1]


def _attribute_names(dimension) -> tuple[str, tuple[str, ...]]:
    """(name, attributes) of a dimension given as an attribute name, a sequence of them, or an object with ``name``
    and ``attributes`` (an :class:`beyond_averages.equity.dimensions.Dimension`)."""
    if isinstance(dimension, str):
        names = (dimension,)
        return dimension, names
    if hasattr(dimension, "attributes"):
        return str(dimension.name), tuple(dimension.attributes)
    names = tuple(dimension)
    return "_x_".join(names), names


def measures_by_dimension(area: Area, dimension, extract_dir: Path | None = None, study: Study | None = None,
                          patients: Patients | None = None, intervals: AreaIntervals | None = None,
                          include_unknown: bool = False,
                          attributes: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Monthly numerator and denominator per practice x group of ``dimension``, every combination present:
    ``area, month, practice_id, dimension, group, numerator, denominator``; ``group`` is categorical, in the
    dimension's order. Rows run practice by practice, group by group, month by month (the measures table's order).

    ``dimension``: an attribute name (``"ethnicity"``), several for their product (``("imd_quintile",
    "ethnicity")``, codes ``"1:Black"``), or a :class:`~beyond_averages.equity.dimensions.Dimension`. Pass
    ``patients``, ``intervals`` and ``attributes`` (:func:`read_patient_attributes`) to reuse them.
    """
    study = study or load_study()
    extract_dir = Path(extract_dir) if extract_dir else study.resolved_extract_dir()
    patients = patients or load_patients(extract_dir)
    iv = intervals or area_intervals(area, study, extract_dir, patients)
    name, names = _attribute_names(dimension)
    for n in names:
        attribute(n, key=f"dimension {name!r}")
    text = attributes
    if text is None:
        needs_text = any(n in ("ethnicity", "sex") for n in names)
        text = read_patient_attributes(extract_dir, patients) if needs_text else {}
    den, num = count_by_groups(patients, iv, names, text, include_unknown,
                               source=str(Path(extract_dir) / "patients.parquet"))
    codes = group_codes(names, include_unknown)
    n_practices, n_groups, n_months = den.shape
    months = month_start(np.arange(iv.first, iv.first + n_months)).to_numpy()
    frame = pd.DataFrame({
        "area": area.name,
        "month": np.tile(months, n_practices * n_groups),
        "practice_id": np.repeat(np.asarray(patients.practice_ids), n_groups * n_months),
        "dimension": name,
        "group": pd.Categorical(np.tile(np.repeat(np.asarray(codes, dtype=object), n_months), n_practices),
                                categories=list(codes), ordered=True),
        "numerator": num.ravel(),
        "denominator": den.ravel(),
    })
    frame["month"] = frame["month"].astype("datetime64[s]")
    return frame
