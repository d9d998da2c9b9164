"""Synthetic practices and their registered patients, calibrated on public NEL statistics.

Each practice sits in one borough and draws its patients from a catchment of small areas (LSOAs) of that borough,
weighted by population with practice-specific weights, plus a few from elsewhere in NEL: so each practice has its
own deprivation mix and real within-practice variation in IMD quintile. The list turns over (arrivals, births,
leavers, deaths) so that its size stays about constant over the study window.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import paths
from ..config import ETHNIC_GROUPS, Study  # one list of groups, shared with the area files
from ..months import month_index_of


ETHNICITY_NOT_RECORDED = 0.06     # illustrative: share of patients with no ethnicity recorded
LSOA_NOT_RECORDED = 0.005         # illustrative: share with no usable address, so no IMD
OUT_OF_BOROUGH_SHARE = 0.10       # illustrative: patients living outside the practice's borough
BIRTHS_PER_PERSON_YEAR = 29_173 / 2_036_470  # NEL children aged 0 / residents, mid-2020 [D2]

PATIENT_COLUMNS = (
    "patient_id", "practice_id", "sex", "birth_date", "ethnicity", "lsoa_code", "imd_decile",
    "registration_start", "registration_end", "death_date",
)


@dataclass(frozen=True)
class Calibration:
    lsoas: pd.DataFrame            # lsoa11cd, borough, imd_decile, population, ethnic shares
    age_by_borough: pd.DataFrame   # borough x single year 0..90 (share)
    female_share: pd.Series        # borough -> share female
    list_sizes: np.ndarray         # real practice list sizes (May 2022), to resample


@cache
def load_calibration() -> Calibration:
    folder = paths.CALIBRATION_DIR
    lsoa = pd.read_csv(folder / "nel_lsoa_imd2019_population_ethnicity.csv")
    eth_cols = [f"eth2021_{g.lower()}" for g in ETHNIC_GROUPS]
    eth = lsoa[eth_cols].to_numpy(dtype=float)
    # LSOAs whose boundaries changed in 2021 have no Census row: give them their borough's mix.
    borough_mix = lsoa.groupby("lad19nm")[eth_cols].transform("sum").to_numpy(dtype=float)
    eth = np.where(np.isnan(eth).any(axis=1, keepdims=True), borough_mix, eth)
    eth = eth / eth.sum(axis=1, keepdims=True)
    lsoas = pd.DataFrame({
        "lsoa_code": lsoa["lsoa11cd"].astype(str),
        "borough": lsoa["lad19nm"].astype(str),
        "imd_decile": lsoa["imd_decile"].astype(int),
        "population": lsoa["pop2015_total"].astype(float),
    })
    for i, g in enumerate(ETHNIC_GROUPS):
        lsoas[g] = eth[:, i]
    ages = pd.read_csv(folder / "nel_la_population_mid2020_single_year_age.csv")
    age_cols = [f"age_{i}" for i in range(90)] + ["age_90plus"]
    age = ages.set_index("la_name")[age_cols].astype(float)
    age = age.div(age.sum(axis=1), axis=0)
    sex = pd.read_csv(folder / "nel_la_census2021_sex.csv").set_index("la_name")
    female = sex["females"] / sex["residents"]
    sizes = pd.read_csv(folder / "nel_gp_practice_list_size_2022_05.csv")["registered_patients"].to_numpy(float)
    return Calibration(lsoas=lsoas, age_by_borough=age, female_share=female, list_sizes=sizes)


@cache
def _lsoa_columns() -> dict:
    """The calibration LSOAs' columns as numpy arrays (the codes as an Arrow array, to take from), converted once
    per process rather than once per practice."""
    lsoas = load_calibration().lsoas
    return {"borough": lsoas["borough"].to_numpy(dtype=object), "population": lsoas["population"].to_numpy(),
            "lsoa_code": pa.array(lsoas["lsoa_code"].to_numpy(dtype=object), pa.string()),
            "imd_decile": lsoas["imd_decile"].to_numpy(), "ethnic_shares": lsoas[list(ETHNIC_GROUPS)].to_numpy()}


def make_practices(study: Study, rng: np.random.Generator) -> pd.DataFrame:
    """Practices with borough, target list size and catchment (not yet patients).

    Practices are shared out between boroughs in proportion to residents; list sizes are resampled from the real
    May 2022 distribution and rescaled so that the total is ``target_patients * scale``.
    """
    cal = load_calibration()
    syn = study.synthetic
    pop = cal.lsoas.groupby("borough")["population"].sum().sort_index()
    share = pop / pop.sum()
    # Largest-remainder allocation so the counts add up exactly to n_practices.
    raw = share * syn.n_practices
    counts = np.floor(raw).astype(int)
    remainder = syn.n_practices - counts.sum()
    counts.iloc[np.argsort(-(raw - counts).to_numpy(), kind="stable")[:remainder]] += 1
    boroughs = np.repeat(pop.index.to_numpy(), counts.to_numpy())
    sizes = rng.choice(cal.list_sizes, size=syn.n_practices, replace=True)
    sizes = sizes * (syn.target_patients * syn.scale / sizes.sum())
    sizes = np.maximum(np.round(sizes), 20).astype(int)
    return pd.DataFrame({
        "practice_id": [f"P{i + 1:04d}" for i in range(syn.n_practices)],
        "borough": boroughs,
        "list_size": sizes,
    })


def _catchment(borough: str, n_lsoas: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """LSOA row numbers and weights: most patients from a cluster in the borough, some from elsewhere in NEL."""
    lsoas = _lsoa_columns()
    home = np.flatnonzero(lsoas["borough"] == borough)
    k = min(n_lsoas, len(home))
    pop = lsoas["population"]
    chosen = rng.choice(home, size=k, replace=False, p=pop[home] / pop[home].sum())
    w_home = rng.dirichlet(np.ones(k)) * (1 - OUT_OF_BOROUGH_SHARE)
    away = rng.choice(len(pop), size=10, replace=False, p=pop / pop.sum())
    w_away = rng.dirichlet(np.ones(10)) * OUT_OF_BOROUGH_SHARE
    return np.concatenate([chosen, away]), np.concatenate([w_home, w_away])


def _annual_mortality(age_years: np.ndarray) -> np.ndarray:
    """Illustrative Gompertz mortality: about 0.1% a year at 40, 1.5% at 70, 6% at 85."""
    return np.minimum(np.exp(-10.6 + 0.097 * age_years), 0.5)


def make_patients(practice: pd.Series, study: Study, rng: np.random.Generator, first_patient_id: int
                  ) -> dict[str, np.ndarray]:
    """The registered patients (ever, during the study window) of one practice, as a column per name of
    ``PATIENT_COLUMNS``: text as Arrow string arrays (taken from the few distinct values, much faster than
    converting Python strings), dates ``datetime64[D]`` (NaT for none), ``imd_decile`` float (NaN for unknown).

    Dates are drawn at day precision; birth dates are given as the first of the birth month, as extracts give the
    month of birth only.
    """
    cal = load_calibration()
    syn = study.synthetic
    s0 = month_index_of(study.study_start)
    n_months = study.n_months
    size = int(practice["list_size"])
    years = n_months / 12

    n_initial = size
    n_movers = rng.poisson(size * syn.annual_deregistration * years)
    n_births = rng.poisson(size * BIRTHS_PER_PERSON_YEAR * years)
    n = n_initial + n_movers + n_births

    # Arrival month (index from s0) and age at arrival in months.
    age_share = cal.age_by_borough.loc[practice["borough"]].to_numpy()
    age_years = rng.choice(91, size=n_initial + n_movers, p=age_share)
    age_months = age_years * 12 + rng.integers(0, 12, size=n_initial + n_movers)
    arrival = np.concatenate([
        np.zeros(n_initial, dtype=np.int64),
        rng.integers(0, n_months, size=n_movers),
        rng.integers(0, n_months, size=n_births),
    ])
    age_at_arrival = np.concatenate([age_months, rng.integers(0, 3, size=n_births)])
    birth_month = s0 + arrival - age_at_arrival

    # The initial list registered some time before the window (up to 20 years, not before birth).
    back = np.zeros(n, dtype=np.int64)
    back[:n_initial] = np.minimum(rng.integers(0, 240, size=n_initial), s0 - birth_month[:n_initial])
    reg_start_month = s0 + arrival - back
    reg_start_day = rng.integers(1, 29, size=n)

    # Leaving (deregistration) and death, both from arrival (or the window's start) onwards.
    start = np.maximum(arrival, 0).astype(float)
    monthly_leave = syn.annual_deregistration / 12
    leave = start + rng.exponential(1 / monthly_leave, size=n) if monthly_leave > 0 else np.full(n, np.inf)
    age_at_start_years = (s0 + start - birth_month) / 12
    monthly_death = _annual_mortality(age_at_start_years) / 12
    death = start + rng.exponential(1 / monthly_death)
    dies = death < leave
    end = np.where(dies, death, leave)
    end_month = np.floor(end).astype(np.int64)
    in_window = end_month < n_months
    end_day = rng.integers(1, 29, size=n)
    # Leaving (or dying) in the month of registration must fall on or after the day registration began: in such a
    # month the two independent days are put in order (the order statistics of two uniform days). No draw changes,
    # so every other patient keeps the same dates.
    same_month = in_window & (s0 + end_month == reg_start_month)
    swap = same_month & (end_day < reg_start_day)
    reg_start_day, end_day = np.where(swap, end_day, reg_start_day), np.where(swap, reg_start_day, end_day)

    lsoa_rows, lsoa_w = _catchment(practice["borough"], syn.catchment_lsoas, rng)
    lsoa_pick = lsoa_rows[rng.choice(len(lsoa_rows), size=n, p=lsoa_w)]
    decile = _lsoa_columns()["imd_decile"][lsoa_pick].astype(float)
    no_address = rng.random(n) < LSOA_NOT_RECORDED
    lsoa_code = _lsoa_columns()["lsoa_code"].take(pa.array(lsoa_pick, mask=no_address))   # masked: null
    decile[no_address] = np.nan

    eth_p = _lsoa_columns()["ethnic_shares"][lsoa_pick]
    u = rng.random(n)[:, None]
    eth_idx = (u > np.cumsum(eth_p, axis=1)).sum(axis=1).clip(0, len(ETHNIC_GROUPS) - 1)
    eth_idx[rng.random(n) < ETHNICITY_NOT_RECORDED] = len(ETHNIC_GROUPS)
    ethnicity = pa.array(ETHNIC_GROUPS + ("Not recorded",), pa.string()).take(pa.array(eth_idx))

    female = rng.random(n) < float(cal.female_share.loc[practice["borough"]])

    def to_date(month_idx, day):   # numpy calendar arithmetic: pandas per practice cost more than the draws
        first = (month_idx - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")
        return first + (np.asarray(day, dtype=np.int64) - 1)

    reg_end = np.where(in_window, to_date(s0 + end_month, end_day), np.datetime64("NaT"))
    death_date = np.where(dies & in_window, reg_end, np.datetime64("NaT"))
    # Patients who left before they arrived cannot occur; patients registering after the window are not drawn.
    return {
        "patient_id": np.arange(first_patient_id, first_patient_id + n, dtype=np.int64),
        "practice_id": pa.array([practice["practice_id"]], pa.string()).take(pa.array(np.zeros(n, np.int32))),
        "sex": pa.array(["male", "female"], pa.string()).take(pa.array(female.astype(np.int8))),
        "birth_date": to_date(birth_month, 1),
        "ethnicity": ethnicity,
        "lsoa_code": lsoa_code,
        "imd_decile": decile,
        "registration_start": to_date(reg_start_month, reg_start_day),
        "registration_end": reg_end,
        "death_date": death_date,
    }
