"""Direct age standardisation with the 2013 European Standard Population (ESP2013).

The standard is restricted to the age bands that hold eligible patients (an indicator for adults aged 45 and
over is standardised over the bands 45-49 ... 90+), and its weights renormalised, as is usual for indicators with an
age-restricted denominator. Confidence intervals use Dobson's method with exact Poisson limits for the total count,
the method of Public Health England's Fingertips tools (PHEindicatormethods ``phe_dsr``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

# ESP2013 weights for 5-year bands 0-4, 5-9, ..., 85-89, 90+ (Eurostat 2013 revision; sums to 100,000).
ESP2013 = np.array([5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000, 5500, 5000,
                    4000, 2500, 1500, 1000], dtype=float)
AGE_BAND_LABELS = [f"{5 * k}-{5 * k + 4}" for k in range(18)] + ["90+"]


def _poisson_limits(observed: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1 - confidence
    lower = np.where(observed > 0, stats.chi2.ppf(alpha / 2, 2 * observed) / 2, 0.0)
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * observed + 2) / 2
    return lower, upper


def directly_standardise(frame: pd.DataFrame, by: list[str], age_col: str = "age_band",
                         numerator: str = "numerator", denominator: str = "denominator",
                         per: float = 100.0, confidence: float = 0.95) -> pd.DataFrame:
    """Directly age-standardised rate per group of ``by``, with Dobson confidence limits.

    ``frame`` has one row per group x age band (band 0 = 0-4 ... 18 = 90+). Bands with no denominator anywhere in
    ``frame`` are left out of the standard. Returns ``by`` + ``numerator, denominator, crude_rate, std_rate,
    ci_lower, ci_upper`` (rates per ``per``).
    """
    used = np.sort(frame.loc[frame[denominator] > 0, age_col].unique())
    weights = pd.Series(ESP2013[used] / ESP2013[used].sum(), index=used)
    df = frame[frame[age_col].isin(used)].copy()
    df["w"] = df[age_col].map(weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        df["r"] = np.where(df[denominator] > 0, df[numerator] / df[denominator], 0.0)
        df["wr"] = df["w"] * df["r"]
        df["var"] = np.where(df[denominator] > 0, df["w"] ** 2 * df[numerator] / df[denominator] ** 2, 0.0)
    g = df.groupby(by, sort=True, observed=True)
    out = g[[numerator, denominator, "wr", "var"]].sum().reset_index()
    observed = out[numerator].to_numpy(dtype=float)
    dsr = out["wr"].to_numpy()
    lo_o, hi_o = _poisson_limits(observed, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(out["var"].to_numpy() / observed)
        lower = dsr + scale * (lo_o - observed)
        upper = dsr + scale * (hi_o - observed)
        crude = observed / out[denominator].to_numpy()
    out["crude_rate"] = per * crude
    out["std_rate"] = per * dsr
    out["ci_lower"] = per * lower
    out["ci_upper"] = per * upper
    return out.drop(columns=["wr", "var"])
