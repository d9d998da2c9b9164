"""Clinical events of one area for one practice's patients, with the programme's true effect.

Each eligible patient-month carries a recording probability (hazard) chosen so that, at steady state, the share of
patients covered by the indicator's look-back window equals the target coverage:
``coverage = 1 - (1 - h) ** W`` with ``W`` the look-back (or due window) in months. The target is set on the logit
scale by IMD quintile, age and practice, then the programme adds its planted effect (percentage points, by quintile,
ramped in over ``effect_ramp_months``) while a patient is registered at an adopting practice; COVID-19 multiplies
the hazard month by month.

Ground truth by common random numbers: the same uniform draws decide the events with and without the programme, so
``numerator - numerator_counterfactual`` per practice x quintile x month is the programme's exact effect on the
indicator, which the estimators must recover.

Areas with a continuous outcome (``continuous_outcome:``, e.g. HbA1c) also get the programme's effect on the value:
a test taken while registered at an adopting practice after its start has ``value_effects`` (in the value's unit, by
quintile, ramped in like the proportion effect) added to the same normal draw it would have had without the
programme. Tests that happen only without the programme get their own draws, made after every other draw of the
practice, so no other draw moves. The truth of the mean (``value_n``, ``value_sum`` and their ``_counterfactual``:
eligible patients with a value in the look-back window and the sum of their latest values) is then exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ..config import ETHNIC_GROUPS, Area, Study
from ..deprivation import imd_quintile_from_decile
from ..months import month_index, month_index_of

EVENT_COLUMNS = ("patient_id", "code", "event_date", "value")
TRUTH_COLUMNS = ("practice_id", "imd_quintile", "month", "denominator", "numerator", "numerator_counterfactual")
VALUE_TRUTH_COLUMNS = ("value_n", "value_sum", "value_n_counterfactual", "value_sum_counterfactual")
NO_ONSET = np.iinfo(np.int64).max // 4


def covid_multiplier(area: Area, month_indices: np.ndarray) -> np.ndarray:
    """Hazard multiplier per month, linear between the configured anchors, 1 outside them."""
    anchors = sorted(area.synthetic.covid_hazard_multiplier.items())
    xs = np.array([month_index_of(d) for d, _ in anchors], dtype=float)
    ys = np.array([v for _, v in anchors], dtype=float)
    return np.interp(month_indices.astype(float), xs, ys, left=1.0, right=ys[-1])


def window_months(area: Area) -> int:
    """W: months over which the hazard accumulates into coverage."""
    due = area.synthetic.due_age_months
    if area.indicator.lookback_months is not None:
        w = area.indicator.lookback_months
        if due is not None:
            w = min(w, due[1] - due[0])
        return w
    if due is None:
        raise ValueError(f"area {area.name}: an 'ever recorded' indicator needs synthetic.due_age_months")
    return due[1] - due[0]


def burn_in_months(area: Area) -> int:
    """Months before the window for which events are drawn, so the first month's look-back is complete."""
    if area.indicator.lookback_months is not None:
        return area.indicator.lookback_months
    return area.synthetic.due_age_months[1]


def _dates(month_idx: np.ndarray, day: np.ndarray) -> pd.Series:
    return pd.to_datetime(pd.DataFrame({"year": month_idx // 12, "month": month_idx % 12 + 1, "day": day}))


def epoch_days(month_idx: np.ndarray, day: np.ndarray | int = 1) -> np.ndarray:
    """Days since 1970-01-01 of ``day`` of each month index (numpy calendar arithmetic: no pandas per call)."""
    first = (np.asarray(month_idx, dtype=np.int64) - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")
    return first.astype(np.int64) + (np.asarray(day, dtype=np.int64) - 1)


def _register_onsets(area: Area, codelist: str, quintile: np.ndarray, birth_m: np.ndarray, s0: int, s_end: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Month of the first diagnosis code of each patient (``NO_ONSET`` = not diagnosed by the window's end).

    ``prevalence_by_quintile`` is the share on the register at the window's start among those old enough; onsets
    of prevalent cases are spread over the years before, and new cases arise during the window at 4% of the
    prevalence a year (illustrative), so the register grows as registers do.
    """
    spec = area.synthetic.registers[codelist]
    prev_q = np.array([np.mean(list(spec.prevalence_by_quintile.values()))]
                      + [spec.prevalence_by_quintile[k] for k in range(1, 6)])
    prev = prev_q[quintile]
    n = len(quintile)
    earliest = birth_m + 12 * spec.age_min_years
    u = rng.random(n)
    prevalent = (earliest < s0) & (u < prev)
    incidence = prev * 0.04 * (s_end + 1 - s0) / 12
    incident = ~prevalent & (rng.random(n) < incidence) & (earliest <= s_end)
    lo_prev = np.maximum(earliest, s0 - 240)
    onset_prev = lo_prev + np.floor(rng.random(n) * np.maximum(s0 - lo_prev, 1)).astype(np.int64)
    lo_inc = np.maximum(earliest, s0)
    onset_inc = lo_inc + np.floor(rng.random(n) * np.maximum(s_end + 1 - lo_inc, 1)).astype(np.int64)
    return np.where(prevalent, onset_prev, np.where(incident, onset_inc, NO_ONSET))


def latest_value_in_window(values: np.ndarray, lookback: int) -> np.ndarray:
    """Per row and month, the latest non-missing value of ``values`` (rows x months, NaN = no test) in the
    ``lookback`` months up to and including the month; NaN when there is none (brute force, for the truth)."""
    has = ~np.isnan(values)
    col = np.arange(values.shape[1])[None, :]
    last = np.maximum.accumulate(np.where(has, col, -1), axis=1)
    found = (last >= 0) & (col - last < lookback)
    picked = np.take_along_axis(values, np.maximum(last, 0), axis=1)
    return np.where(found, picked, np.nan)


def ethnic_codes(ethnicity: pd.Series) -> np.ndarray:
    """Each patient's index in ``ETHNIC_GROUPS``; ``len(ETHNIC_GROUPS)`` for not recorded."""
    lookup = {g: i for i, g in enumerate(ETHNIC_GROUPS)}
    return ethnicity.map(lookup).fillna(len(ETHNIC_GROUPS)).to_numpy(dtype=np.int64)


def ethnic_multiplier(area: Area, scenario: str, codes: np.ndarray) -> np.ndarray:
    """Each patient's multiplier of the planted effect: ``effects_by_ethnicity`` in the ``ethnicity`` scenario
    (groups not listed, and not recorded, 1), else 1 for everyone."""
    table = np.ones(len(ETHNIC_GROUPS) + 1)
    if scenario == "ethnicity":
        for i, g in enumerate(ETHNIC_GROUPS):
            table[i] = area.synthetic.effects_by_ethnicity.get(g, 1.0)
    return table[codes]


@dataclass(frozen=True)
class PatientArrays:
    """One practice's patients as the arrays the simulation reads: dates as month indexes (``NEVER`` for none),
    IMD quintile (0 = unknown), ethnic group as in :func:`ethnic_codes`."""

    patient_id: np.ndarray
    birth_m: np.ndarray
    reg_start: np.ndarray
    reg_end: np.ndarray
    death_m: np.ndarray
    quintile: np.ndarray
    female: np.ndarray
    ethnic: np.ndarray

    @classmethod
    def from_frame(cls, patients: pd.DataFrame) -> "PatientArrays":
        decile = patients["imd_decile"].to_numpy(dtype="float64", na_value=np.nan)
        # Hand-built test patients may carry no ethnicity: all "not recorded" then.
        ethnicity = patients["ethnicity"] if "ethnicity" in patients else pd.Series(index=patients.index,
                                                                                    dtype=object)
        return cls(patient_id=patients["patient_id"].to_numpy(),
                   birth_m=month_index(patients["birth_date"]),
                   reg_start=month_index(patients["registration_start"]),
                   reg_end=month_index(patients["registration_end"]),   # NEVER when still registered
                   death_m=month_index(patients["death_date"]),
                   quintile=np.nan_to_num(imd_quintile_from_decile(decile), nan=0).astype(int),
                   female=patients["sex"].to_numpy() == "female",
                   ethnic=ethnic_codes(ethnicity))


@dataclass(frozen=True)
class PracticeDraws:
    """One practice's events (unsorted, in draw order; ``event_day`` the day of ``event_month``) and ground truth:
    ``truth`` (denominator, numerator, counterfactual) x quintile x study month, ``ethnic_truth`` the same by
    ethnic group (last: not recorded), ``value_truth`` the value counts and sums (areas with a continuous outcome,
    else ``None``) in the order of ``VALUE_TRUTH_COLUMNS``."""

    event_patient: np.ndarray
    event_code_index: np.ndarray   # row of ``code_table``
    code_table: np.ndarray         # the codes drawn from (object), codelist after codelist
    event_month: np.ndarray
    event_day: np.ndarray
    event_value: np.ndarray
    truth: np.ndarray
    ethnic_truth: np.ndarray
    value_truth: np.ndarray | None


def _group_sums(groupings: list[tuple[np.ndarray, int]], arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Column sums of 0/1 ``arrays`` (rows x months) over the rows of each group, for each grouping (one group
    code per row, -1 for none; and the number of groups), as int64 (arrays x groups x months).

    Integer sums of the rows each group selects: exact, and free of the BLAS threads a matrix product would use,
    which spin against each other when `make` runs two generators on two cores (a float32 product took 6 times as
    long there as this does)."""
    n_months = arrays[0].shape[1]
    stacked = np.concatenate(arrays, axis=1)
    out = []
    for groups, n in groupings:
        sums = np.stack([stacked[groups == code].sum(axis=0, dtype=np.int64) for code in range(n)])
        out.append(sums.reshape(n, len(arrays), n_months).transpose(1, 0, 2))
    return out


def simulate_practice(area: Area, study: Study, pat: PatientArrays, practice_re: float,
                      programme_start: pd.Timestamp | None, scenario: str, rng: np.random.Generator
                      ) -> PracticeDraws:
    """Events of ``area`` for one practice's patients, and that practice's ground truth by quintile x month and by
    ethnic group x month (:func:`simulate_area` on arrays)."""
    s0 = month_index_of(study.study_start)
    s_end = month_index_of(study.study_end)
    n_months = study.n_months
    burn = burn_in_months(area)
    m0 = s0 - burn
    grid = np.arange(m0, s_end + 1)
    n = len(pat.patient_id)
    birth_m, reg_start, reg_end, death_m = pat.birth_m, pat.reg_start, pat.reg_end, pat.death_m
    quintile, female, ethnic = pat.quintile, pat.female, pat.ethnic

    ev_pid, ev_code, ev_month, ev_day, ev_value = [], [], [], [], []
    code_tables = []

    def draw_codes(codelist: str, size: int) -> np.ndarray:
        """Rows of the practice's code table: a code of ``codelist`` drawn at random for each of ``size`` events."""
        codes = area.codes(codelist)
        offset = sum(len(t) for t in code_tables)
        code_tables.append(codes)
        return offset + rng.integers(0, len(codes), size=size)

    def add_events(pid, code, month, value):
        ev_pid.append(pid)
        ev_code.append(code)
        ev_month.append(month)
        ev_day.append(rng.integers(1, 29, size=len(month)))   # drawn after the codes, as always
        ev_value.append(np.broadcast_to(np.asarray(value, dtype=np.float64), (len(month),)))

    onset = {}
    for codelist in area.synthetic.registers:
        onset[codelist] = _register_onsets(area, codelist, quintile, birth_m, s0, s_end, rng)
        has = onset[codelist] <= s_end
        if has.any():
            add_events(pat.patient_id[has], draw_codes(codelist, int(has.sum())),
                       onset[codelist][has], np.nan)

    elig = area.eligibility
    sex_ok = np.ones(n, bool) if elig.sex == "any" else (female if elig.sex == "female" else ~female)
    due = area.synthetic.due_age_months
    due_lo = birth_m + (due[0] if due else elig.min_age_months)
    due_hi = birth_m + (due[1] if due else (elig.max_age_months + 1 if elig.max_age_months is not None else 10**6))
    if elig.on_register:
        due_lo = np.maximum(due_lo, onset[elig.on_register])
    # Events are drawn from the due age (or register onset) until death or leaving the practice; records from
    # before registration are kept, as transferred records are in real extracts.
    ev_lo = np.maximum(due_lo, m0)
    ev_hi = np.minimum.reduce([due_hi, death_m, reg_end, np.full(n, s_end + 1)])
    cand = np.flatnonzero(sex_ok & (ev_lo < ev_hi))

    truth = np.zeros((3, 5, n_months), dtype=np.int64)
    ethnic_truth = np.zeros((3, len(ETHNIC_GROUPS) + 1, n_months), dtype=np.int64)  # last: not recorded
    outcome = area.continuous_outcome
    value_truth = np.zeros((4, 5, n_months), dtype=np.float64)
    if len(cand):
        months = grid[None, :]
        active = (months >= ev_lo[cand, None]) & (months < ev_hi[cand, None])
        q = quintile[cand]
        base = np.array([area.synthetic.baseline_by_quintile.get(int(k), np.nan) for k in range(6)])
        base[0] = np.mean(list(area.synthetic.baseline_by_quintile.values()))  # IMD unknown: the average
        eff = np.array([0.0] + [area.synthetic.effects_pp[scenario][k] for k in range(1, 6)]) / 100
        eff[0] = np.mean(eff[1:])
        # logit(base) + practice_re + per_decade * (age_years - reference) / 10, in place (the same numbers:
        # + and * commute exactly) since these rows x months arrays are the bulk of the work at full scale.
        p_cf = np.subtract(months, birth_m[cand, None], dtype=np.float64)   # exact: months are far below 2**53
        p_cf /= 12.0    # age in years
        p_cf -= area.synthetic.age_reference_years
        p_cf *= area.synthetic.age_logit_per_decade
        p_cf /= 10
        p_cf += logit(base[q])[:, None] + practice_re
        expit(p_cf, out=p_cf)
        if programme_start is not None:
            g = month_index_of(programme_start)
            ramp_len = max(area.synthetic.effect_ramp_months, 1)
            ramp = np.clip((grid - g + 1) / ramp_len, 0, 1)
            registered = (months >= reg_start[cand, None]) & (months < reg_end[cand, None])
            effect = eff[q] * ethnic_multiplier(area, scenario, ethnic[cand])

        def value_shift(r: np.ndarray, c: np.ndarray) -> np.ndarray:
            """The programme's effect on the value of a test of patient row ``r`` in grid month ``c``."""
            effects = area.synthetic.value_effects
            if programme_start is None or effects is None:
                return np.zeros(len(r))
            veff = np.array([0.0] + [effects[scenario][k] for k in range(1, 6)])
            veff[0] = np.mean(veff[1:])
            return veff[q[r]] * ramp[c] * registered[r, c]
        w = window_months(area)
        mult = covid_multiplier(area, grid)[None, :]

        def hazard(p, mult):
            """clip(1 - (1 - clip(p, 1e-4, 0.9999)) ** (1 / w), 0, 1) * mult, in place on one new array."""
            h = np.clip(p, 1e-4, 0.9999)
            np.subtract(1, h, out=h)
            h **= 1 / w    # ndarray power, as ``**`` (its fast paths for special exponents included)
            np.subtract(1, h, out=h)
            np.clip(h, 0, 1, out=h)
            h *= mult
            return h

        u = rng.random(active.shape, dtype=np.float64)
        ev_cf = active & (u < hazard(p_cf, mult))
        if programme_start is None:
            ev_act = ev_cf     # no programme: the two worlds are the same
        else:
            # With the programme the probability is p_cf + effect * ramp * registered: the same number as p_cf
            # before the start (ramp 0), so only the months from the start on are drawn again.
            c0 = int(np.searchsorted(grid, g))
            p_act = p_cf[:, c0:] + effect[:, None] * ramp[None, c0:] * registered[:, c0:]
            ev_act = ev_cf.copy()
            ev_act[:, c0:] = active[:, c0:] & (u[:, c0:] < hazard(p_act, mult[:, c0:]))

        rows, cols = np.nonzero(ev_act)
        vm = area.synthetic.values
        if vm is not None:
            means = np.array([vm.mean_by_quintile.get(int(k), np.mean(list(vm.mean_by_quintile.values())))
                              for k in range(6)])
        values_act = values_cf = None
        if outcome is not None:
            values_act = np.full(active.shape, np.nan)
            values_cf = np.full(active.shape, np.nan)
        if len(rows):
            value = np.nan
            if vm is not None:
                draw = rng.normal(means[q[rows]], vm.sd)
                value = np.round(draw + value_shift(rows, cols), vm.decimals)
                if outcome is not None:
                    values_act[rows, cols] = value
                    both = ev_cf[rows, cols]
                    values_cf[rows[both], cols[both]] = np.round(draw[both], vm.decimals)
            add_events(pat.patient_id[cand[rows]], draw_codes(area.indicator.codelist, len(rows)), grid[cols], value)

        if outcome is not None:
            # Tests only the counterfactual world has: drawn last, so that no other draw of the practice moves.
            r_cf, c_cf = np.nonzero(ev_cf & ~ev_act)
            values_cf[r_cf, c_cf] = np.round(rng.normal(means[q[r_cf]], vm.sd), vm.decimals)

        # Ground truth, computed by brute force month by month (independently of the measures module).
        study_cols = slice(burn, burn + n_months)
        lookback = area.indicator.lookback_months
        covered = []
        for ev in ((ev_act,) if ev_act is ev_cf else (ev_act, ev_cf)):
            cs = np.cumsum(ev, axis=1, dtype=np.int32)
            # An event in (m - lookback, m]: the count to m exceeds the count to m - lookback (burn = lookback).
            before = 0 if lookback is None else cs[:, burn - lookback:burn - lookback + n_months]
            covered.append(cs[:, study_cols] > before)
        sm = np.arange(s0, s_end + 1)[None, :]
        age_m = sm - birth_m[cand, None]
        eligible = ((sm >= reg_start[cand, None]) & (sm < reg_end[cand, None]) & (sm < death_m[cand, None])
                    & (age_m >= elig.min_age_months))
        if elig.max_age_months is not None:
            eligible &= age_m <= elig.max_age_months
        if elig.on_register:
            eligible &= sm >= onset[elig.on_register][cand, None]
        known = q > 0
        numerator = eligible & covered[0]
        numerator_cf = numerator if len(covered) == 1 else eligible & covered[1]
        worlds = [eligible, numerator, numerator_cf]
        # IMD unknown (q = 0) counts in no quintile.
        truth[:], ethnic_truth[:] = _group_sums([(q - 1, 5), (ethnic[cand], ethnic_truth.shape[1])], worlds)
        if outcome is not None:
            for k, world in enumerate((values_act, values_cf)):
                latest = latest_value_in_window(world, outcome.lookback_months)[:, study_cols]
                counted = eligible & ~np.isnan(latest)
                np.add.at(value_truth[2 * k], q[known] - 1, counted[known].astype(np.float64))
                np.add.at(value_truth[2 * k + 1], q[known] - 1, np.where(counted, latest, 0.0)[known])

    def joined(parts, dtype):
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    code_table = np.array([c for t in code_tables for c in t], dtype=object)
    return PracticeDraws(event_patient=joined(ev_pid, np.int64), event_code_index=joined(ev_code, np.int64),
                         code_table=code_table,
                         event_month=joined(ev_month, np.int64), event_day=joined(ev_day, np.int64),
                         event_value=joined(ev_value, np.float64), truth=truth, ethnic_truth=ethnic_truth,
                         value_truth=value_truth if outcome is not None else None)


def simulate_area(area: Area, study: Study, patients: pd.DataFrame, practice_re: float,
                  programme_start: pd.Timestamp | None, scenario: str, rng: np.random.Generator
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Events of ``area`` for one practice's ``patients``, and that practice's ground truth by quintile x month
    and by ethnic group x month."""
    draws = simulate_practice(area, study, PatientArrays.from_frame(patients), practice_re, programme_start,
                              scenario, rng)
    s0, n_months = month_index_of(study.study_start), study.n_months
    count_columns = TRUTH_COLUMNS[3:]   # denominator, numerator, numerator_counterfactual
    truth_frame = pd.DataFrame({"imd_quintile": np.repeat(np.arange(1, 6), n_months),
                                "month_index": np.tile(np.arange(n_months) + s0, 5),
                                **{c: a.ravel() for c, a in zip(count_columns, draws.truth, strict=True)}})
    if draws.value_truth is not None:
        for name, arr in zip(VALUE_TRUTH_COLUMNS, draws.value_truth, strict=True):  # counts, sums, counts, sums
            truth_frame[name] = arr.ravel().astype(np.int64) if name.startswith("value_n") else arr.ravel()
    groups = ETHNIC_GROUPS + ("Not recorded",)
    ethnic_frame = pd.DataFrame({"ethnicity": np.repeat(np.array(groups, dtype=object), n_months),
                                 "month_index": np.tile(np.arange(n_months) + s0, len(groups)),
                                 **{c: a.ravel() for c, a in zip(count_columns, draws.ethnic_truth, strict=True)}})
    if not len(draws.event_patient):
        return pd.DataFrame(columns=list(EVENT_COLUMNS)), truth_frame, ethnic_frame
    events = pd.DataFrame({"patient_id": draws.event_patient, "code": draws.code_table[draws.event_code_index],
                           "event_date": _dates(draws.event_month, draws.event_day), "value": draws.event_value})
    return events, truth_frame, ethnic_frame
