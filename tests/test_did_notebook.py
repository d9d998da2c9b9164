"""notebooks/did.ipynb: committed clean; its outputs in the session's one executed book (the `executed_chapter`
fixture, on the chapter extract) state their own tables' numbers and verdicts; and the not-yet-treated comparison
with a planted narrowing, at the package level (no notebook executed)."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from beyond_averages import did, labels, paths
from beyond_averages.report import did as did_report

NOTEBOOK = paths.NOTEBOOKS / "did.ipynb"
LABEL = re.compile(r"^#\| label: ((fig|tbl)-[a-z0-9]+(-[a-z0-9]+)*)$", re.M)
NUM = r"(-?\d+\.\d+)"
CELL = re.compile(rf"^{NUM} \({NUM} to {NUM}\)$")  # report.tables.format_estimate_ci
HEADLINE = labels.ESTIMATORS["group_time_att"]  # the notebook's default headline estimator


def test_committed_notebook_is_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert nb.cells[0].metadata.get("tags") == ["parameters"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    h1 = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
          if line.startswith("# ")]
    assert h1 == ["# Difference-in-differences by deprivation {#sec-did}"]
    labels_ = [m.group(1) for c in nb.cells if c.cell_type == "code" for m in LABEL.finditer(c.source)]
    assert labels_ and all(lab.split("-")[1] == "did" for lab in labels_) and len(set(labels_)) == len(labels_)
    assert "tbl-did-waves" in labels_
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for ref in re.findall(r"@((?:fig|tbl)-[a-z0-9-]+[a-z0-9])", text):
        assert ref in labels_
    # captions are static: settings and parameters are stated by computed sentences instead
    captions = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
                if line.startswith(("#| tbl-cap", "#| fig-cap"))]
    for typed in ("Webb", "999", "percentage points", "nearest 5", "7 or fewer", "most deprived minus"):
        assert not any(typed in cap for cap in captions), typed
    # parameters -> one analysis call (public API) -> report calls only
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "from beyond_averages.did import run_did_analysis_from_files" in code[1]
    assert code[1].count("run_did_analysis_from_files(") == 1
    for source in code[2:]:
        calls = [line for line in source.splitlines() if line and not line.startswith(("#|", "fig", "plt."))]
        assert all(any(m in line for m in ("did_report.", "hl.", "sens.")) for line in calls), source  # report calls


def _one(sentences: list[str], start: str) -> str:
    found = [s for s in sentences if s.startswith(start)]
    assert len(found) == 1, (start, sentences)
    return found[0]


def test_executed_settings_and_panel_are_stated(executed_chapter, executed_book, chapter_extract, study):
    measures = pd.read_parquet(executed_book / "outputs" / "measures" / f"{study.default_area}.parquet")
    programme = pd.read_parquet(chapter_extract / f"programme_{study.default_area}.parquet")
    starts = pd.to_datetime(programme["programme_start"]).dropna()
    joined = " ".join(executed_chapter("did").sentences())
    assert (f"The panel holds {measures['practice_id'].nunique()} practices over {measures['month'].nunique()} "
            f"months") in joined
    assert (f"{programme['practice_id'].nunique()} adopted the programme in {starts.nunique()} waves and are "
            "compared with practices that never adopted") in joined
    assert "Webb weights and 999 draws" in joined and "effect in Q1 (most deprived) minus the effect in Q5" in joined
    assert "counts of 7 or fewer are redacted and the others rounded to the nearest 5" in joined


def test_executed_contrast_verdict_agrees_with_the_quintile_table(executed_chapter):
    chapter = executed_chapter("did")
    header, *rows = chapter.table("tbl-did-quintile")
    col = header.index(HEADLINE)
    table = {row[0]: CELL.match(row[col]).groups() for row in rows}
    contrast = f"Difference {labels.QUINTILES[1]} minus {labels.QUINTILES[5]}"
    assert list(table) == [labels.QUINTILES[q] for q in range(1, 6)] + [contrast]
    m = re.match(rf"Compared with practices that had not adopted, the programme changed the indicator by {NUM} "
                 rf"percentage points in {re.escape(labels.QUINTILES[1])} and {NUM} in "
                 rf"{re.escape(labels.QUINTILES[5])}; the difference is {NUM} \(95% CI {NUM} to {NUM}\), so (.+?)\.",
                 _one(chapter.sentences(), "Compared with practices that had not adopted"))
    assert m
    said = [float(x) for x in m.groups()[:5]]
    shown = [float(table[labels.QUINTILES[1]][0]), float(table[labels.QUINTILES[5]][0]),
             *(float(x) for x in table[contrast])]
    assert np.allclose(said, shown, atol=0.006), (said, shown)
    est, lo, hi = table[contrast]
    if float(lo) > 0.005 or float(hi) < -0.005:
        more = "more" if float(est) > 0 else "less"
        assert m.group(6) == f"the programme raised the indicator {more} in {labels.QUINTILES[1]} than in " \
                             f"{labels.QUINTILES[5]}", m.group(6)
    elif float(lo) < -0.005 and float(hi) > 0.005:
        assert m.group(6) == f"the effects in {labels.QUINTILES[1]} and {labels.QUINTILES[5]} cannot be told apart"


def test_executed_gap_verdict_agrees_with_the_inequality_table(executed_chapter):
    chapter = executed_chapter("did")
    header, *rows = chapter.table("tbl-did-inequality")
    assert header == ["Within-practice measure", "Estimator", "Adopters' baseline", "Change due to programme (95% CI)"]
    row = next(r for r in rows if r[:2] == [labels.WITHIN_PRACTICE_MEASURES["gap"], HEADLINE])
    base = float(row[2])
    est, lo, hi = (float(x) for x in CELL.match(row[3]).groups())
    m = re.fullmatch(rf"Before adoption, the indicator among adopting practices' patients in the least deprived "
                     rf"quintile was {NUM} percentage points (higher|lower) than in the most deprived quintile\. The "
                     rf"programme changed this gap by {NUM} percentage points \(95% CI {NUM} to {NUM}; "
                     rf"{re.escape(HEADLINE)}\): (.+)\.", _one(chapter.sentences(), "Before adoption"))
    assert m
    assert float(m.group(1)) == pytest.approx(abs(base), abs=0.06) and m.group(2) == ("higher" if base > 0 else "lower")
    assert np.allclose([float(x) for x in m.groups()[2:5]], [est, lo, hi], atol=0.006)
    if lo < -0.005 and hi > 0.005:
        assert m.group(6) == "there is no clear evidence that the within-practice gap changed"
    elif (lo > 0.005 or hi < -0.005) and abs(base) > 0.005:
        narrowed = np.sign(est) != np.sign(base)
        assert m.group(6) == f"the within-practice gap {'narrowed' if narrowed else 'widened'}", m.group(6)


@pytest.fixture(scope="module")
def not_yet_treated():
    """The inputs the notebook test used to run the notebook on, analysed at the package level instead."""
    measures, programme = did.simulate_measures_panel(
        n_practices=40, n_months=24, start="2019-01-01", waves=("2019-10-01", "2020-04-01"),
        effects="narrowing", seed=5,
    )
    panel = did.build_did_panel(measures, programme)
    with pytest.warns(UserWarning, match="only 16 treated clusters"):
        return did.run_did_analysis(panel, did.DidSettings(comparison="not_yet_treated"), area="synthetic")


def test_not_yet_treated_comparison_reports_the_planted_narrowing(not_yet_treated):
    a = not_yet_treated
    assert a.gta_quintile.comparison == "not_yet_treated" and a.gta_overall.comparison == "not_yet_treated"
    assert all(fit.comparison == "not_yet_treated" for (_, est), fit in a.inequality.items()
               if est == "group_time_att")
    methods = did_report.methods_sentence(a)
    assert "40 practices over 24 months" in methods and "compared with practices that had not yet adopted" in methods
    assert "16 adopted the programme in 2 waves" in methods
    # planted: a larger gain in Q1, so the gap Q5 - Q1 shrinks
    assert "the within-practice gap narrowed" in did_report.gap_sentence(a)
    contrast = did_report.contrast_sentence(a)
    assert "raised the indicator more in Q1 (most deprived) than in Q5 (least deprived)" in contrast
    assert "Caution: only 16 treated clusters" in contrast
    assert "Webb weights and 999 draws" in did_report.triple_difference_sentence(a)
    for display in (did_report.adoption_waves_table_display, did_report.effects_by_quintile_display,
                    did_report.triple_difference_display, did_report.inequality_effects_display,
                    did_report.parallel_trends_display):
        html = display(a).to_html()
        assert "<table" in html and "nan" not in html and "_" not in re.sub(r"<[^>]+>|id=\"[^\"]*\"", "", html)


def test_parallel_trends_sentence_never_prints_p_0_000(not_yet_treated):
    sentence = did_report.parallel_trends_sentence(not_yet_treated)
    assert "smallest p" in sentence and "p = 0.000" not in sentence
