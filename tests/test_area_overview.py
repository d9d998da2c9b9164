"""The area-choice chapter (issue 14 item 7): baseline inequality and its trend for every area, on hand-built
measures whose gaps, slope indices and trends are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.area_overview import run_area_overview, sii_trend, year_end_points
from beyond_averages.files import InputError, write_parquet
from beyond_averages.report import area_overview as show

YEARS = (2017, 2018, 2019, 2020, 2021, 2022)
DEN = 100_000   # per quintile and year end: a multiple of the rounding base, so released counts equal the raw ones


def _measures(area: str, rates_by_year) -> pd.DataFrame:
    """One practice; every month present (the overview must pick the Marches); rates_by_year[year][q] in %."""
    rows = []
    for month in pd.date_range("2017-01-01", "2022-12-01", freq="MS"):
        for q in range(1, 6):
            rate = rates_by_year[month.year][q]
            rows.append({"area": area, "month": month, "practice_id": "P1", "imd_quintile": q,
                         "numerator": int(round(DEN * rate / 100)), "denominator": DEN})
    return pd.DataFrame(rows)


@pytest.fixture
def folders(tmp_path):
    """Two real area names with planted inequalities: a constant 10-point gradient (hypertension) and a
    gradient growing by 1 point a year (cervical screening); childhood immunisations has no measures table."""
    mdir, edir = tmp_path / "measures", tmp_path / "extract"
    steady = {y: {1: 80.0, 2: 82.5, 3: 85.0, 4: 87.5, 5: 90.0} for y in YEARS}
    growing = {y: {q: 60.0 + (q - 1) * 0.25 * (2 + (y - 2017)) for q in range(1, 6)} for y in YEARS}
    for name, rates in (("hypertension_case_finding", steady), ("cervical_screening", growing)):
        write_parquet(_measures(name, rates), mdir / f"{name}.parquet")
        write_parquet(pd.DataFrame({"practice_id": ["P1"], "programme_start": [pd.Timestamp("2021-04-01")]}),
                      edir / f"programme_{name}.parquet")
    return mdir, edir


def test_sii_trend_is_the_inverse_variance_weighted_slope():
    # Hand-worked: years 2017-2019, SII 1, 2, 4, each with SE 1 (95% CI +-1.96): slope 3 / 2 = 1.5 a year,
    # SE sqrt(1 / 2).
    months = pd.Series(pd.to_datetime(["2017-03-01", "2018-03-01", "2019-03-01"]))
    z = 1.959963984540054
    sii = pd.DataFrame({"estimate": [1.0, 2.0, 4.0], "ci_lower": [1 - z, 2 - z, 4 - z],
                        "ci_upper": [1 + z, 2 + z, 4 + z]})
    slope, lo, hi = sii_trend(months, sii)
    assert slope == pytest.approx(1.5)
    assert hi - slope == pytest.approx(z * np.sqrt(0.5))
    assert np.isnan(sii_trend(months[:1], sii[:1])[0])


def test_year_end_points_are_the_marches():
    frame = _measures("x", {y: {q: 50.0 for q in range(1, 6)} for y in YEARS})
    assert set(pd.to_datetime(year_end_points(frame)["month"]).dt.month) == {3}


def test_overview_recovers_planted_gaps_and_trends(folders):
    mdir, edir = folders
    overview = run_area_overview(["hypertension_case_finding", "cervical_screening", "childhood_immunisations"],
                                 str(mdir), str(edir))
    assert overview.missing == ("childhood_immunisations",)
    s = overview.summary.set_index("area")
    # Baseline: March 2021, the last March before the first wave (April 2021).
    assert (s["baseline_month"] == pd.Timestamp("2021-03-01")).all()
    steady, growing = s.loc["hypertension_case_finding"], s.loc["cervical_screening"]
    assert steady["gap_estimate"] == pytest.approx(10.0)
    # A straight-line gradient over the quintiles: the SII is the Q1-to-Q5 difference scaled to the whole range
    # (ranks at quintile midpoints 0.1..0.9): 10 / 0.8 = 12.5.
    assert steady["sii_estimate"] == pytest.approx(12.5, abs=1e-6)
    # 2021: rates 60 + 0.25 * 6 * (q - 1): gap 6, SII 7.5; a year's growth of the gap 1 point -> SII 1.25 a year.
    assert growing["gap_estimate"] == pytest.approx(6.0)
    assert growing["sii_trend"] == pytest.approx(1.25, abs=1e-6)
    assert steady["sii_trend"] == pytest.approx(0.0, abs=1e-6)
    assert show.trend_words(growing) == "widening"
    assert show.trend_words(steady) == "no clear trend"
    sentence = show.overview_sentence(overview)
    assert sentence.startswith("At baseline, inequality by deprivation was largest in hypertension case finding")
    assert "cervical screening showed widening (+1.25 points a year" in sentence
    assert "No measures table was found for childhood immunisations" in show.methods_text(overview)
    show.overview_figure(overview)   # drawn (the figure audit checks width and text size)
    table = show.overview_table(overview).data
    assert table.iloc[0]["SII, pp (95% CI)"].startswith("12.50 (")


def test_small_counts_are_redacted_before_any_measure(folders, tmp_path):
    mdir, edir = folders
    frame = pd.read_parquet(mdir / "hypertension_case_finding.parquet")
    march_2019 = (frame["month"] == pd.Timestamp("2019-03-01")) & (frame["imd_quintile"] == 1)
    frame.loc[march_2019, ["numerator", "denominator"]] = [3, 5]
    write_parquet(frame, mdir / "hypertension_case_finding.parquet")
    overview = run_area_overview(["hypertension_case_finding"], str(mdir), str(edir))
    r = overview.rates.set_index(["month", "imd_quintile"])
    assert np.isnan(r.loc[(pd.Timestamp("2019-03-01"), 1), "denominator"])
    shown = overview.rates.dropna(subset=["denominator"])
    assert (shown["denominator"] % 5 == 0).all() and (shown["denominator"] > 7).all()
    # That year's gap is not computed from the hidden quintile.
    gap_2019 = overview.equity.query("measure == 'gap' and month == '2019-03-01'")
    assert gap_2019["estimate"].isna().all()


def test_no_measures_at_all_names_the_folder(tmp_path):
    with pytest.raises(InputError, match=str(tmp_path / "nothing")):
        run_area_overview(["hypertension_case_finding"], str(tmp_path / "nothing"), str(tmp_path))
