"""The one definition of deprivation groups used everywhere in the compendium.

Quintiles are *national* quintiles of the English Index of Multiple Deprivation (IMD) 2019, taken from the LSOA's
national rank or decile. **Quintile 1 is the most deprived**, quintile 5 the least deprived (the convention of
Fingertips, QOF inequality reports and CORE20PLUS5, whose "Core20" is national deciles 1-2 = quintile 1).
Never compute a quintile anywhere else: three OpenSAFELY studies wrote three different rules.
"""

from __future__ import annotations

import numpy as np

N_LSOA_ENGLAND_2019 = 32_844  # LSOAs ranked by IMD 2019 (MHCLG, File 1)
QUINTILES = (1, 2, 3, 4, 5)
MOST_DEPRIVED = 1
LEAST_DEPRIVED = 5



def imd_quintile_from_decile(decile) -> np.ndarray | int:
    """National IMD quintile from national decile: deciles 1-2 -> 1, 3-4 -> 2, ..., 9-10 -> 5.

    Raises ``ValueError`` for a decile outside 1..10 (missing values stay missing).
    """
    arr = np.asarray(decile, dtype="float64")
    valid = ~np.isnan(arr)
    if np.any((arr[valid] < 1) | (arr[valid] > 10) | (arr[valid] != np.floor(arr[valid]))):
        bad = arr[valid][(arr[valid] < 1) | (arr[valid] > 10) | (arr[valid] != np.floor(arr[valid]))]
        raise ValueError(f"IMD decile must be a whole number from 1 to 10; got {bad[:5].tolist()}")
    out = np.ceil(arr / 2.0)
    if np.ndim(decile) == 0:
        return int(out) if valid else out
    return out


def imd_quintile_from_rank(rank, n_areas: int = N_LSOA_ENGLAND_2019) -> np.ndarray | int:
    """National IMD quintile from the national rank (1 = most deprived of ``n_areas``).

    Quintile q holds ranks with ``(q-1) * n/5 < rank <= q * n/5``; for IMD 2019 (n = 32,844) rank 6,568 is the last
    of quintile 1 and 6,569 the first of quintile 2.
    """
    arr = np.asarray(rank, dtype="float64")
    valid = ~np.isnan(arr)
    if np.any((arr[valid] < 1) | (arr[valid] > n_areas)):
        raise ValueError(f"IMD rank must lie in 1..{n_areas}")
    out = np.ceil(arr * 5.0 / n_areas)
    if np.ndim(rank) == 0:
        return int(out) if valid else out
    return out

