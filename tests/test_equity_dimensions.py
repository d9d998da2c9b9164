"""Equity beyond deprivation: the dimensions, the measures by any dimension, the chapter's finer splits under
disclosure control (with complementary suppression), and the configuration key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from beyond_averages import config, measures, paths
from beyond_averages.book.disclosure_appendix import REDACTED, table_rows
from beyond_averages.disclosure import DisclosureRules, release_split_counts, suppress_complements
from beyond_averages.equity import dimensions as dims
from beyond_averages.equity.gaps import absolute_gap
from beyond_averages.equity.unordered import between_group_variance, compare_groups, index_of_disparity
from beyond_averages.files import InputError
from beyond_averages.measures.by_dimension import OUTPUT_COLUMNS, count_by_groups, measures_by_dimension
from beyond_averages.measures.intervals import AreaIntervals
from beyond_averages.measures.reading import Patients
from beyond_averages.months import NEVER
from beyond_averages.report import study_population as show
from beyond_averages.study_population import baseline_month, inequality_beyond_deprivation

RULES = DisclosureRules(7, 5)


# -- the dimensions -----------------------------------------------------------------------------------------
def test_every_configurable_dimension_is_defined():
    assert tuple(dims.DIMENSIONS) == config.EQUITY_DIMENSIONS


def test_imd_quintile_is_ordered_from_most_deprived():
    imd = dims.DIMENSIONS["imd_quintile"]
    assert imd.ordered and imd.codes == ("1", "2", "3", "4", "5")
    assert (imd.most_disadvantaged, imd.least_disadvantaged, imd.reference) == ("1", "5", "5")
    assert imd.label("1") == "Q1 (most deprived)" and [g.code for g in imd.unknown] == ["0"]


def test_ethnicity_and_sex_are_unordered_with_a_reference_group():
    eth = dims.DIMENSIONS["ethnicity"]
    assert not eth.ordered and eth.reference == "White"
    assert eth.most_disadvantaged is None and eth.least_disadvantaged is None
    assert eth.codes == ("Asian", "Black", "Mixed", "White", "Other")
    assert [g.code for g in eth.unknown] == ["Not recorded"]
    sex = dims.DIMENSIONS["sex"]
    assert not sex.ordered and sex.codes == ("female", "male") and sex.label("female") == "Female"


def test_age_band_is_ordered_youngest_first():
    age = dims.DIMENSIONS["age_band"]
    assert age.ordered and age.codes == ("0-15", "16-44", "45-64", "65-79", "80+")
    assert (age.most_disadvantaged, age.least_disadvantaged) == ("0-15", "80+") and age.unknown == ()


def test_imd_by_ethnicity_is_the_product_with_cells():
    cells = dims.DIMENSIONS["imd_x_ethnicity"]
    assert not cells.ordered and cells.attributes == ("imd_quintile", "ethnicity")
    assert len(cells.groups) == 25 and cells.codes[:2] == ("1:Asian", "1:Black")
    assert cells.reference == "5:White"
    assert len(cells.unknown) == 6 * 6 - 25  # every cell with IMD unknown or ethnicity not recorded
    assert cells.label("1:Black") == "Q1 (most deprived), Black"
    assert cells.split_code("0:Not recorded") == ("0", "Not recorded")
    # The order of the cells is the order measures_by_dimension counts them in.
    from beyond_averages.measures.by_dimension import group_codes
    assert tuple(g.code for g in cells.all_groups(True)) == group_codes(("imd_quintile", "ethnicity"), True)


def test_beyond_deprivation_picks_ethnicity_for_the_imd_default():
    second, cross = dims.beyond_deprivation(dims.DIMENSIONS["imd_quintile"])
    assert (second.name, cross.name) == ("ethnicity", "imd_x_ethnicity")
    second, cross = dims.beyond_deprivation(dims.DIMENSIONS["sex"])
    assert (second.name, cross.name, len(cross.groups)) == ("sex", "imd_quintile_x_sex", 10)


@pytest.mark.parametrize(("changes", "key"), [
    ({"reference": "Martian"}, "key 'reference'"),
    ({"ordered": True}, "key 'most_disadvantaged'"),
    ({"most_disadvantaged": "Black"}, "key 'most_disadvantaged'"),
    ({"groups": (dims.Group("a", "A"), dims.Group("a", "A"))}, "key 'groups'"),
])
def test_bad_dimension_definitions_name_the_key(changes, key):
    base = dict(name="test", title="t", attributes=("ethnicity",), groups=dims.ETHNICITY.groups, ordered=False,
                reference="White")
    with pytest.raises(ValueError, match=key):
        dims.Dimension(**{**base, **changes})


def test_unknown_dimension_names_the_key():
    with pytest.raises(config.ConfigError, match="equity_dimension: unknown equity dimension 'race'"):
        dims.get_dimension("race")


# -- configuration ------------------------------------------------------------------------------------------
def test_study_default_and_area_override(tmp_path):
    study = config.load_study()
    assert study.equity_dimension == "imd_quintile"
    assert dims.dimension_for(study).name == "imd_quintile"
    data = yaml.safe_load(paths.area_file("cervical_screening").read_text())
    data["equity_dimension"] = "ethnicity"
    path = tmp_path / "cervical_screening.yaml"
    path.write_text(yaml.safe_dump(data))
    assert dims.dimension_for(study, config.load_area(path)).name == "ethnicity"
    assert dims.dimension_for(study, config.load_area("cervical_screening")).name == "imd_quintile"


def test_bad_equity_dimension_names_file_and_key(tmp_path):
    data = yaml.safe_load((paths.ROOT / "study.yaml").read_text())
    data["equity_dimension"] = "income"
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(config.ConfigError, match=r"study.yaml: key 'equity_dimension'"):
        config.load_study(path)
    area = yaml.safe_load(paths.area_file("cervical_screening").read_text())
    area["equity_dimension"] = "ethnic"
    path = tmp_path / "cervical_screening.yaml"
    path.write_text(yaml.safe_dump(area))
    with pytest.raises(config.ConfigError, match=r"cervical_screening.yaml: key 'equity_dimension'"):
        config.load_area(path)


# -- measures by dimension ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def counted(small_extract, study):
    area = config.load_area(study.default_area)
    patients = measures.load_patients(small_extract)
    intervals = measures.area_intervals(area, study, small_extract, patients)
    return area, patients, intervals


def test_imd_dimension_equals_compute_measures(counted, small_extract, study):
    area, patients, iv = counted
    expected = measures.compute_measures(area, small_extract, study, patients, iv)
    got = measures_by_dimension(area, dims.DIMENSIONS["imd_quintile"], small_extract, study, patients, iv)
    assert tuple(got.columns) == OUTPUT_COLUMNS and (got["dimension"] == "imd_quintile").all()
    assert got["group"].astype(int).tolist() == expected["imd_quintile"].tolist()
    for column in ("area", "month", "practice_id", "numerator", "denominator"):
        assert got[column].tolist() == expected[column].tolist(), column


def _brute_force_totals(patients: Patients, iv: AreaIntervals) -> pd.DataFrame:
    """Every eligible patient per practice and month, counted month by month (no interval arithmetic)."""
    rows = []
    for i, m in enumerate(range(iv.first, iv.last + 1)):
        den = np.bincount(patients.practice[(iv.lo <= m) & (iv.hi > m)], minlength=len(patients.practice_ids))
        covered = (iv.num_lo <= m) & (iv.num_hi > m)
        num = np.bincount(patients.practice[iv.rows[covered]], minlength=len(patients.practice_ids))
        rows.append(pd.DataFrame({"practice_id": patients.practice_ids, "i": i, "numerator": num, "denominator": den}))
    return pd.concat(rows).sort_values(["practice_id", "i"]).reset_index(drop=True)


@pytest.mark.parametrize("dimension", ["ethnicity", "sex", "age_band", "imd_x_ethnicity"])
def test_groups_add_up_to_every_eligible_patient(counted, small_extract, study, dimension):
    area, patients, iv = counted
    got = measures_by_dimension(area, dims.DIMENSIONS[dimension], small_extract, study, patients, iv,
                                include_unknown=True)
    totals = got.groupby(["practice_id", "month"], sort=True)[["numerator", "denominator"]].sum().reset_index()
    expected = _brute_force_totals(patients, iv)
    assert totals["denominator"].tolist() == expected["denominator"].tolist()
    assert totals["numerator"].tolist() == expected["numerator"].tolist()
    assert totals["denominator"].sum() > 100_000  # a real test: the small extract has many eligible patient-months


def test_not_recorded_ethnicity_is_left_out_unless_asked(counted, small_extract, study):
    area, patients, iv = counted
    known = measures_by_dimension(area, "ethnicity", small_extract, study, patients, iv)
    every = measures_by_dimension(area, "ethnicity", small_extract, study, patients, iv, include_unknown=True)
    assert list(known["group"].cat.categories) == ["Asian", "Black", "Mixed", "White", "Other"]
    not_recorded = every.loc[every["group"] == "Not recorded", "denominator"].sum()
    assert not_recorded > 0
    assert known["denominator"].sum() == every["denominator"].sum() - not_recorded


def test_an_interval_crossing_a_birthday_is_split_between_age_bands():
    """One patient born in month 0, eligible from age 15 years 10 months to 16 years 3 months, covered for its
    last 3 months: 2 months in 0-15 and 4 in 16-44; covered 0 and 3 months."""
    birth = 0
    patients = Patients(patient_id=np.array([1]), practice_ids=np.array(["P1"]), practice=np.array([0]),
                        quintile=np.array([1]), female=np.array([True]), birth=np.array([birth]),
                        reg_start=np.array([0]), reg_end=np.array([NEVER]), death=np.array([NEVER]))
    lo, hi = 12 * 15 + 10, 12 * 16 + 4  # months [190, 196)
    iv = AreaIntervals(first=185, last=199, lo=np.array([lo]), hi=np.array([hi]), rows=np.array([0]),
                       num_lo=np.array([hi - 3]), num_hi=np.array([hi]))
    den, num = count_by_groups(patients, iv, ["age_band"], {})
    assert den.shape == (1, 5, 15)
    assert den[0, 0].tolist() == [0] * 5 + [1, 1] + [0] * 8      # months 190-191: aged 15
    assert den[0, 1].tolist() == [0] * 7 + [1] * 4 + [0] * 4      # months 192-195: aged 16
    assert num[0, 0].sum() == 0 and num[0, 1].tolist() == [0] * 8 + [1] * 3 + [0] * 4


def test_unexpected_attribute_value_names_the_column(counted):
    area, patients, iv = counted
    text = {"ethnicity": np.full(len(patients.patient_id), "Martian", dtype=object)}
    with pytest.raises(InputError, match="column 'ethnicity' has value 'Martian'"):
        count_by_groups(patients, iv, ["ethnicity"], text)


# -- unordered summaries ------------------------------------------------------------------------------------
def test_index_of_disparity_reproduces_the_published_example():
    """Chesson et al., Sex Transm Dis 2017;44(9):513-8, Table 2 (gonorrhoea rates per 100,000 by race/ethnicity,
    reference = the overall rate): index of disparity 133.0 and 134.1, weighted 114.8 and 112.1."""
    population = [200e6, 40e6, 55e6, 20e6, 3e6]
    for rates, overall, plain, weighted in (([27.0, 515.2, 52.9, 14.5, 82.8], 92.6, 133.0, 114.8),
                                            ([23.4, 426.2, 47.9, 14.4, 107.4], 78.5, 134.1, 112.1)):
        assert round(index_of_disparity(rates, population, reference=overall), 1) == plain
        assert round(index_of_disparity(rates, population, reference=overall, weighted=True), 1) == weighted


def test_between_group_variance_hand_worked():
    # Shares 1/4, 3/4 of rates 10 and 20: mean 17.5, variance 0.25 * 7.5^2 + 0.75 * 2.5^2 = 18.75.
    assert between_group_variance([10, 20], [100, 300]) == pytest.approx(18.75)
    assert between_group_variance([15, 15, 15], [1, 2, 3]) == 0
    assert np.isnan(between_group_variance([10], [5]))


def test_compare_groups_is_group_minus_reference():
    frame = pd.DataFrame({"group": ["Asian", "Black", "White", "Not recorded"], "numerator": [40, 30, 80, 9],
                          "denominator": [100, 100, 100, 10]})
    groups, summary = compare_groups(frame, dims.ETHNICITY)
    black = groups.set_index("group").loc["Black"]
    est, lo, hi = absolute_gap(80, 100, 30, 100, multiplier=100)
    assert black["difference"] == pytest.approx(-50) == pytest.approx(float(est))
    assert (black["difference_lower"], black["difference_upper"]) == pytest.approx((float(lo), float(hi)))
    assert black["ratio"] == pytest.approx(30 / 80)
    assert groups.set_index("group")[["difference"]].loc[["White", "Not recorded"]].isna().all().all()
    # Not recorded is left out of the summaries: rates 40, 30, 80 with equal weights.
    assert summary.set_index("measure").loc["between_group_variance", "estimate"] == pytest.approx(
        np.mean((np.array([40, 30, 80]) - 50) ** 2))
    assert summary["groups"].tolist() == [3, 3]


# -- disclosure of the finer splits -------------------------------------------------------------------------
def test_one_small_cell_takes_the_next_smallest_with_it():
    raw = pd.DataFrame({"group": list("abcd"), "numerator": [60, 30, 2, 150], "denominator": [100, 50, 5, 200]})
    out = release_split_counts(raw, splits=[()], rules=RULES)
    # c (5) is redacted by the rule; alone it would be the shown total (355) minus the rest, so b (50) goes too.
    assert out["denominator"].isna().tolist() == [False, True, True, False]
    assert out["numerator"].isna().tolist() == [False, True, True, False]
    assert out.loc[0, "rate"] == pytest.approx(60.0)


def test_two_way_splits_leave_no_row_or_column_with_a_single_redaction():
    raw = pd.DataFrame({"row": ["x", "x", "x", "y", "y", "y"], "col": ["1", "2", "3", "1", "2", "3"],
                        "numerator": [50, 40, 3, 60, 70, 80], "denominator": [100, 90, 6, 120, 130, 140]})
    released = release_split_counts(raw, splits=[("row",), ("col",)], rules=RULES)
    for key in ("row", "col"):
        hidden = released["denominator"].isna().groupby(released[key]).sum()
        assert set(hidden) <= {0, 2, 3}, (key, hidden.to_dict())
    # (x, 3) by the rule; (x, 2) for row x (its smallest other cell); then columns 2 and 3 each hold one, so
    # (y, 2) and (y, 3) go too: the 2 x 2 block no row or column total can open.
    assert released["denominator"].isna().tolist() == [False, True, True, False, True, True]
    # A released frame passed in again changes nothing more.
    again = suppress_complements(raw, released, [("row",), ("col",)])
    assert again["denominator"].isna().tolist() == released["denominator"].isna().tolist()


@pytest.fixture(scope="module")
def beyond(small_extract, study):
    area = config.load_area(study.default_area)
    month = baseline_month(pd.read_parquet(small_extract / f"programme_{area.name}.parquet"))
    return inequality_beyond_deprivation(area, study, small_extract, month, study.disclosure_rules)


def _splits_safe(frame: pd.DataFrame, keys) -> None:
    for column in ("numerator", "denominator"):
        for key in keys:
            groups = frame[key] if key else np.zeros(len(frame), dtype=int)
            hidden = frame[column].isna().groupby(groups).sum()
            assert not (hidden == 1).any(), (column, key, hidden.to_dict())


def test_chapter_splits_release_no_small_count_and_no_single_redaction(beyond, study):
    rules = study.disclosure_rules
    for frame in (beyond.groups, beyond.cells):
        for column in ("numerator", "denominator"):
            shown = frame[column].dropna()
            assert (shown > rules.redact_at_or_below).all() and (shown % rules.round_to == 0).all()
    _splits_safe(beyond.groups, [None])
    _splits_safe(beyond.cells, ["quintile", "member"])
    # The cross-table's rows add up to the group counts released in the first table (rounding aside).
    rows = beyond.cells.groupby("member")["denominator"].sum(min_count=1)
    groups = beyond.groups.set_index("group")["denominator"]
    full = beyond.cells.groupby("member")["denominator"].count() == 6
    # Each of the 6 cells and the group total moves at most half the rounding base.
    assert full.any()
    assert ((rows[full] - groups[full[full].index]).abs() <= 7 * study.disclosure_rules.round_to / 2).all()
    assert beyond.cells["denominator"].isna().any()  # the small extract does have small cells to protect


def test_chapter_tables_show_only_released_counts(beyond, study):
    analysis = type("Analysis", (), {"beyond": beyond, "area": config.load_area(study.default_area),
                                     "rules": study.disclosure_rules})()
    register = yaml.safe_load((paths.ROOT / "reports/checklists/disclosure.yaml").read_text())["outputs"]
    for label, table in (("tbl-population-beyond", show.beyond_groups_table(analysis)),
                         ("tbl-population-beyond-cells", show.beyond_cells_table(analysis))):
        rows = table_rows(table.to_html())
        columns = [rows[0].index(c) for c in register[label]["count_columns"]]
        cells = [row[i] for row in rows[1:] for i in columns if row[i]]
        assert len(cells) >= 2 * len(columns)
        if label == "tbl-population-beyond-cells":
            assert REDACTED in cells  # the small extract has cells to protect
        for text in cells:
            if text == REDACTED:
                continue
            count = int(text.split(" ")[0].replace(",", ""))
            assert count > study.disclosure_rules.redact_at_or_below and count % study.disclosure_rules.round_to == 0
    sentence = show.beyond_sentence(analysis)
    low = beyond.groups[beyond.groups["group"].isin(dims.ETHNICITY.codes)].sort_values("rate").iloc[0]
    assert f"in the {low['label']} group" in sentence and "White group (the reference)" in sentence
