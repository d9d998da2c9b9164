"""The recovery study's appendix: the bench script's tracked summary (coverage, Monte Carlo SE, rejections, failed
fits) from hand-built per-seed rows, and the report layer's table and sentences judged against the targets of
issue #13 from a hand-built summary (in band, out of band, a scale not yet run, no file at all)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from beyond_averages.files import InputError, write_csv
from beyond_averages.report import recovery as show


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("recovery_study")


# -- the bench script's summary writer ------------------------------------------------------------------------------
def _seed_rows(scale=0.1, seeds=(1000, 1001, 1002, 1003), tagged=True) -> pd.DataFrame:
    """Four seeds: the DiD Q1 - Q5 in the null scenario covers 3 of 4 and wrongly rejects once; the stacked ITS
    Q1 - Q5 at 24 months covers every seed that fitted but fails on the last seed; a 6-month ITS row (not a headline)
    and a narrowing gap row (planted -1: no rejection rate)."""
    rows = []
    for k, seed in enumerate(seeds):
        base = dict(scale=scale, seed=seed, estimate=0.5, std_error=0.3, ci_lower=-0.1, ci_upper=1.1, bias=0.5,
                    seconds=1.0, error=None)
        rows.append({**base, "scenario": "null", "method": "group_time_att", "target": "1-5", "horizon": np.nan,
                     "truth": 0.0 if k < 3 else 2.0, "covered": k < 3, "correct": 0.0 if k == 1 else 1.0,
                     "planted": 0, "narrowing": 1})
        if k < 3:
            for h in (6.0, 24.0):
                rows.append({**base, "scenario": "null", "method": "its_stacked", "target": "1-5", "horizon": h,
                             "truth": 0.0, "covered": True, "correct": 1.0, "planted": 0, "narrowing": 1})
        else:
            rows.append({**base, "scenario": "null", "method": "its", "target": None, "horizon": np.nan,
                         "estimate": np.nan, "error": "ValueError: redacted month", "truth": np.nan,
                         "covered": False, "correct": np.nan, "planted": np.nan, "narrowing": np.nan})
        rows.append({**base, "scenario": "narrowing", "method": "group_time_att", "target": "gap", "horizon": np.nan,
                     "truth": -1.0, "covered": True, "correct": float(k < 2), "planted": -1, "narrowing": -1})
    out = pd.DataFrame(rows)
    if tagged:  # made by the designs' current versions (untagged rows are of their first versions)
        from beyond_averages import recovery
        out["design"] = out["method"].map(lambda m: recovery.DESIGN_VERSION[
            "did" if m in ("group_time_att", "did") else "its"])
    return out


def test_summary_coverage_mc_se_rejections_and_failed_fits(bench):
    s = bench.recorded_summary(_seed_rows(), {0.1: 100}).set_index(["scenario", "method", "target"])
    assert list(bench.recorded_summary(_seed_rows()).columns) == bench.SUMMARY_COLUMNS
    did = s.loc[("null", "group_time_att", "1-5")]
    assert did["seeds"] == 4 and did["coverage"] == 0.75
    assert math.isclose(did["coverage_mc_se"], math.sqrt(0.75 * 0.25 / 4))          # 0.2165
    assert did["correct"] == 0.75 and did["rejection_rate"] == 0.25
    assert math.isclose(did["correct_mc_se"], math.sqrt(0.75 * 0.25 / 4))
    assert did["truth"] == 0.5 and did["failed_fits"] == 0 and did["seeds_planned"] == 100
    assert (did["first_seed"], did["last_seed"], did["n_practices"]) == (1000, 1003, bench.N_PRACTICES)
    its = s.loc[("null", "its_stacked", "1-5")]
    assert its["horizon"] == 24 and its["seeds"] == 3 and its["coverage"] == 1.0 and its["coverage_mc_se"] == 0
    assert its["failed_fits"] == 1 and its["rejection_rate"] == 0.0
    gap = s.loc[("narrowing", "group_time_att", "gap")]
    assert gap["correct"] == 0.5 and np.isnan(gap["rejection_rate"]) and gap["planted"] == -1
    assert len(s) == 3  # the 6-month ITS row is not a headline row


def test_redo_finds_the_pairs_an_earlier_design_made_and_replaces_only_that_designs_rows(bench, monkeypatch):
    from beyond_averages import recovery
    rec = _seed_rows(tagged=False)  # no design tags: every pair's rows are of the first versions
    assert bench.outdated(rec, "did", [0.1]) == [(0.1, s) for s in (1000, 1001, 1002, 1003)]
    assert len(bench.outdated(rec, "its", [0.1])) == 4  # the ITS too has moved on from its first version
    # From here on, as when only the DiD had changed: the ITS's first version is its current one.
    monkeypatch.setitem(recovery.DESIGN_VERSION, "its", recovery.FIRST_DESIGN_VERSION["its"])
    assert bench.outdated(rec, "did", [0.3]) == []
    assert list(bench.design_of(rec.iloc[:4])) == ["did", "its", "its", "did"]
    new = rec[(rec["seed"] == 1001) & (rec["method"] == "group_time_att")].assign(
        estimate=9.0, seconds=5.0, design=recovery.DESIGN_VERSION["did"])
    out = bench.replace_design(rec, new, "did")
    seed = out[out["seed"] == 1001]
    assert len(out) == len(rec) and (seed.loc[seed["method"] == "group_time_att", "estimate"] == 9.0).all()
    assert (seed.loc[seed["method"] == "its_stacked", "estimate"] == 0.5).all()   # the ITS rows are untouched
    assert (seed["seconds"] == 1.0).all() and (seed["redo_seconds"].dropna() == 5.0).all()
    assert bench.outdated(out, "did", [0.1]) == [(0.1, s) for s in (1000, 1002, 1003)]
    # A summary never mixes versions: the DiD rows count only for the seed the new version ran; the ITS rows (first
    # version, still current) all count.
    kept = bench.current(out)
    assert set(kept.loc[kept["method"] == "group_time_att", "seed"]) == {1001}
    assert set(kept.loc[kept["method"] == "its_stacked", "seed"]) == {1000, 1001, 1002}
    s = bench.recorded_summary(out).set_index(["scenario", "method", "target"])
    assert s.loc[("null", "group_time_att", "1-5"), "seeds"] == 1


def test_main_writes_the_summary_beside_the_per_seed_file_and_keeps_other_scales(bench, tmp_path):
    out = tmp_path / "recovery_study.parquet"
    rows = pd.concat([_seed_rows(0.1), _seed_rows(0.3, (1000, 1001))], ignore_index=True)
    rows.to_parquet(out, index=False)
    write_csv(pd.DataFrame({"scale": [0.3], "seeds_planned": [50]}), tmp_path / "recovery_study_summary.csv")
    # Every (scale 0.1, seed) is already in the file: nothing runs, the summary covers both scales of the file.
    result = bench.main(["--scales", "0.1", "--replicates", "4", "--out", str(out)])
    assert result["summary_file"] == str(tmp_path / "recovery_study_summary.csv")
    assert bench.summary_path_for(out) == tmp_path / "recovery_study_summary.csv"
    summary = pd.read_csv(tmp_path / "recovery_study_summary.csv", keep_default_na=False, na_values=[""])
    assert sorted(summary["scale"].unique()) == [0.1, 0.3]
    assert summary.groupby("scale")["seeds_planned"].first().to_dict() == {0.1: 4, 0.3: 50}
    assert set(summary["scenario"]) == {"null", "narrowing"}  # "null" stays a name
    data = show.load_recovery_summary(tmp_path / "recovery_study_summary.csv", scales=(0.1, 0.3))
    assert data.available and len(show.recovery_frame(data)) == 6


# -- the report layer ------------------------------------------------------------------------------------------------
def _row(scale, scenario, method, target, *, coverage, correct, seeds=100, planted=1, narrowing=0):
    return dict(scale=scale, scenario=scenario, method=method, target=target,
                horizon=24.0 if method == "its_stacked" else np.nan, planted=planted, narrowing=narrowing,
                seeds=seeds, seeds_planned=100, first_seed=1000, last_seed=999 + seeds, failed_fits=0, n_practices=285,
                truth=1.5, bias=-0.25, mean_se=0.4, coverage=coverage,
                coverage_mc_se=math.sqrt(coverage * (1 - coverage) / seeds), correct=correct,
                correct_mc_se=math.sqrt(correct * (1 - correct) / seeds),
                rejection_rate=1 - correct if planted == 0 else np.nan)


def _summary(tmp_path, rows) -> show.RecoveryResults:
    path = tmp_path / "summary.csv"
    write_csv(pd.DataFrame(rows), path, float_format="%.10g")
    return show.load_recovery_summary(path)


HAND = [
    # scale 0.1: null scenario, one estimand in both bands, one out of both, one far out in coverage only
    _row(0.1, "null", "group_time_att", "1", coverage=0.95, correct=0.95, planted=0),
    _row(0.1, "null", "group_time_att", "1-5", coverage=0.90, correct=0.90, planted=0, narrowing=1),
    _row(0.1, "null", "its_stacked", "1-5", coverage=0.99, correct=0.96, planted=0, narrowing=1),
    _row(0.1, "narrowing", "group_time_att", "1-5", coverage=0.94, correct=0.40, narrowing=1),
    _row(0.1, "widening", "group_time_att", "sii", coverage=0.96, correct=0.50, planted=1, narrowing=-1),
    # scale 1 (full scale, 100 seeds): one inequality estimand below 80%
    _row(1.0, "narrowing", "group_time_att", "1-5", coverage=0.95, correct=0.90, narrowing=1),
    _row(1.0, "narrowing", "group_time_att", "gap", coverage=0.93, correct=0.85, planted=-1, narrowing=-1),
    _row(1.0, "widening", "group_time_att", "sii", coverage=0.97, correct=0.75, planted=1, narrowing=-1),
    _row(1.0, "widening", "group_time_att", "3", coverage=0.92, correct=0.10),  # a quintile: no direction target
]


def test_table_values(tmp_path):
    data = _summary(tmp_path, HAND)
    t = show.recovery_frame(data)
    assert list(t["Scale"]) == ["0.1"] * 5 + ["1"] * 4
    first = t.iloc[1]
    assert first["Scenario"] == "Null" and first["Estimand"] == "DiD (group-time ATT): Q1 minus Q5"
    assert first["Coverage, % (MC SE)"] == "90.0 (3.0)"          # sqrt(0.9 * 0.1 / 100) = 0.03
    assert first["Correct conclusion, %"] == "90.0" and first["Rejects no effect, %"] == "10.0"
    assert first["Mean truth (pp)"] == "1.50" and first["Mean bias (pp)"] == "-0.25" and first["Seeds"] == "100"
    its = t.iloc[2]
    assert its["Estimand"] == "ITS (stacked, 24 months): Q1 minus Q5" and its["Rejects no effect, %"] == "4.0"
    assert t.iloc[3]["Rejects no effect, %"] == "–"              # an effect was planted: no rejection rate
    assert t.iloc[6]["Estimand"] == "DiD (group-time ATT): within-practice gap, Q4–Q5 minus Q1–Q2"
    assert t.iloc[0]["Estimand"] == "DiD (group-time ATT): Q1 (most deprived)"
    assert show.recovery_table(data).data.shape == (9, 9)


def test_sentences_in_and_out_of_band_and_missing_scale(tmp_path):
    data = _summary(tmp_path, HAND)
    cov = show.coverage_sentence(data)
    assert "target 93.0% to 97.0%" in cov
    assert "Scale 0.1: 3 of 5 headline estimands within the band; outside it null: DiD Q1 minus Q5 (90.0%), " \
           "ITS Q1 minus Q5 (99.0%) (1 of these 2 further from 95.0% than 2 Monte Carlo SEs)" in cov
    # judged by the SE of a nominal 95% share over 100 seeds, 2.18 points: 90% is 5 points away (beyond 2 SEs,
    # 4.36), 99% only 4; 92% at scale 1 is 3 points away
    assert "Scale 0.3: not yet run" in cov
    assert "Scale 1: 3 of 4 headline estimands within the band; outside it widening: DiD Q3 (92.0%) (within 2 Monte " \
           "Carlo SEs of 95.0%); by Monte Carlo error alone, exactly nominal intervals would put 1.0 of the 4 outside " \
           "it." in cov                                                   # 4 x 0.246 (test_chance_outside_by_hand)
    rej = show.rejection_sentence(data)
    assert "Scale 0.1: 2 of 3 estimands within the band, overall rate 6.3%; outside it null: " \
           "DiD Q1 minus Q5 (10.0%) (further from 5.0% than 2 Monte Carlo SEs); by Monte Carlo error alone, " \
           "exactly nominal intervals would put 0.7 of the 3 outside it" in rej  # (5 + 10 + 4) / 3 = 6.33; 3 x 0.246
    assert "Scale 0.3: not yet run" in rej and "Scale 1: no null scenario in the file" in rej
    direction = show.direction_sentence(data)
    # 75% over 100 seeds: 5 points below 80%, more than 2 SEs of an 80% share (2 x 4.0 = 8.0)? No: within them.
    assert "at scale 1, 2 of 3 reach it; below it widening: DiD within-practice SII (75.0%) (within 2 Monte Carlo " \
           "SEs of 80.0%)." in direction
    trend = show.trend_sentence(data)
    # (40 + 50) / 2 = 45.0% at 0.1; (90 + 85 + 75) / 3 = 83.3% at 1: a rise far beyond Monte Carlo error
    assert "is 45.0% at scale 0.1 and 83.3% at scale 1: from scale 0.1 to 1 it rises; scale 0.3 not yet run." in trend
    status = show.status_sentence(data)
    assert "scale 0.1: 100 seeds (1000 to 1099); scale 0.3: not yet run; scale 1: 100 seeds" in status
    assert status.endswith("no fit failed.")


def test_chance_outside_by_hand():
    """100 seeds at exactly 95%: outside 93-97% when 8 or more fail (0.1280) or 2 or fewer (0.1183)."""
    pmf = [math.comb(100, k) * 0.05 ** k * 0.95 ** (100 - k) for k in range(101)]
    by_hand = sum(pmf[8:]) + sum(pmf[:3])
    assert by_hand == pytest.approx(0.2463, abs=1e-4)
    assert show.chance_outside([100], 0.95, show.COVERAGE_BAND) == pytest.approx(by_hand, rel=1e-9)
    assert show.chance_outside([100, 100], 0.05, show.REJECTION_BAND) == pytest.approx(2 * by_hand, rel=1e-9)
    # 20 seeds: shares move in steps of 5 points, so only exactly 95% (19 of 20) lies inside 93-97%.
    assert show.chance_outside([20], 0.95, show.COVERAGE_BAND) == pytest.approx(1 - 20 * 0.05 * 0.95 ** 19)


def test_before_full_scale_and_within_noise(tmp_path):
    rows = [_row(0.1, "narrowing", "group_time_att", "1-5", coverage=0.95, correct=0.60, narrowing=1, seeds=20),
            _row(0.3, "narrowing", "group_time_att", "1-5", coverage=0.95, correct=0.65, narrowing=1, seeds=20)]
    rows[1]["seeds_planned"] = 100
    data = _summary(tmp_path, rows)
    assert "scale 1 is not yet run; at the largest scale run, 0.3, 0 of 1 reach it; below it narrowing: " \
           "DiD Q1 minus Q5 (65.0%)" in show.direction_sentence(data)
    # 60% vs 65% over 20 seeds: MC SEs about 11%, so the step is noise.
    assert "from scale 0.1 to 0.3 it stays within Monte Carlo error; scale 1 not yet run" in show.trend_sentence(data)
    assert "scale 0.3: 20 of 100 planned seeds so far (1000 to 1019)" in show.status_sentence(data)
    one = _summary(tmp_path, rows[:1])
    assert show.trend_sentence(one) == ("The trend over scales needs at least two scales; scales 0.3 and 1 are not "
                                        "yet run (so far 60.0% at scale 0.1).")


def test_absent_file_says_how_to_run_it_and_lists_the_planned_scales(tmp_path):
    data = show.load_recovery_summary(tmp_path / "missing.csv")
    assert not data.available
    assert "has not been run" in show.status_sentence(data) and "`make bench`" in show.status_sentence(data)
    assert [show.coverage_sentence(data), show.rejection_sentence(data), show.direction_sentence(data),
            show.trend_sentence(data)] == [
        show.NOT_RUN.format(what=w) for w in ("coverage of the truth", "null rejections", "correct conclusions",
                                             "trend over scales")]
    table = show.recovery_table(data).data
    assert table["Scale"].tolist() == ["0.1", "0.3", "1"] and set(table["Status"]) == {"not yet run"}
    assert (table["Seeds run"] == 0).all()
    assert "5 scenarios" in show.methods_paragraph(data) and "0.1, 0.3 and 1" in show.methods_paragraph(data)


def test_bad_file_names_file_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    write_csv(pd.DataFrame([_row(0.1, "null", "group_time_att", "1", coverage=0.95, correct=0.9)])
              .drop(columns=["coverage_mc_se"]), path)
    with pytest.raises(InputError, match=r"bad\.csv: missing column\(s\) 'coverage_mc_se'"):
        show.load_recovery_summary(path)
    write_csv(pd.DataFrame([_row(0.1, "null", "did", "1", coverage=0.95, correct=0.9)]), path)
    with pytest.raises(InputError, match=r"bad\.csv: column 'method' holds \['did'\]"):
        show.load_recovery_summary(path)


# -- the ITS design study's section (report/its_design.py) ------------------------------------------------------------
def _designs(rows):
    cols = ["variant", "scenario", "seeds", "truth", "bias", "sd", "mean_se", "coverage", "correct"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_design_sentence_keeps_the_chapter_when_no_variant_reaches_the_target_with_coverage(tmp_path):
    from beyond_averages.report import its_design

    frame = _designs([("chapter", "narrowing", 20, 2.0, 0.1, 0.7, 0.76, 0.95, 0.85),
                      ("chapter", "widening", 20, -2.1, 0.1, 0.7, 0.76, 1.0, 0.70),
                      ("AR(1) errors", "narrowing", 20, 2.0, 0.1, 0.7, 0.58, 0.85, 0.85),
                      ("AR(1) errors", "widening", 20, -2.1, 0.1, 0.7, 0.58, 0.80, 0.85),
                      ("pooled ends", "narrowing", 20, 1.4, 0.0, 0.5, 0.47, 0.95, 0.80),
                      ("pooled ends", "widening", 20, -1.3, 0.0, 0.5, 0.47, 0.95, 0.75)])
    path = tmp_path / "designs.csv"
    frame.to_csv(path, index=False)
    text = its_design.design_sentence(its_design.load_design_study(path))
    assert "85.0% (narrowing) and 70.0% (widening)" in text
    assert "Other designs reaching 80.0% in both scenarios: AR(1) errors, with coverage 85.0% (narrowing)" in text
    assert "pooled ends" not in text  # 75% in widening: below the target
    assert "so the chapter keeps its design" in text
    # a variant reaching the target with coverage inside the band is named as one to adopt
    better = frame.assign(coverage=np.where(frame["variant"] == "AR(1) errors", 0.94, frame["coverage"]))
    assert "Of these, AR(1) errors kept coverage of at least 93.0%" in its_design.design_sentence(better)
    # the chapter's own design meeting both targets is said so, with any other design that does too
    met = frame.assign(correct=np.where(frame["variant"] == "chapter", 0.9, frame["correct"]))
    text = its_design.design_sentence(met)
    assert "It reached 80.0% in both scenarios with coverage of at least 93.0%" in text
    assert "No other design tried did so." in text
    assert "Of the other designs, AR(1) errors did so too." in its_design.design_sentence(
        met.assign(coverage=np.where(met["variant"] == "AR(1) errors", 0.94, met["coverage"])))


def test_design_study_file_problems_are_named(tmp_path):
    from beyond_averages.files import InputError
    from beyond_averages.report import its_design

    assert its_design.load_design_study(tmp_path / "absent.csv") is None
    assert "has not been run" in its_design.design_sentence(None)
    bad = tmp_path / "bad.csv"
    _designs([("AR(1) errors", "narrowing", 20, 2.0, 0.1, 0.7, 0.58, 0.85, 0.85)]).to_csv(bad, index=False)
    with pytest.raises(InputError, match="no row of the chapter's own design"):
        its_design.load_design_study(bad)
    _designs([("chapter", "narrowing", 20, 2.0, 0.1, 0.7, 0.58, 0.85, 0.85)]).drop(columns="sd").to_csv(bad, index=False)
    with pytest.raises(InputError, match="sd"):
        its_design.load_design_study(bad)
