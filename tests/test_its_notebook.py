"""notebooks/its.ipynb: committed clean and Quarto-ready; its outputs in the session's one executed book (the
`executed_chapter` fixture, on the chapter extract) agree with their own tables; and the report's headline on a
planted narrowing (package level, no notebook run)."""

import json
import re

import nbformat
import numpy as np
import pandas as pd

from beyond_averages import labels, paths
from beyond_averages.files import write_parquet
from beyond_averages.its import run_its_analysis
from beyond_averages.its.simulate import simulate_measures_demo
from beyond_averages.report import its as its_report

NOTEBOOK = paths.NOTEBOOKS / "its.ipynb"
LABEL = re.compile(r"^#\| label: (\S+)", re.M)
NUM = r"([+-]?\d+\.\d+)"
CELL = re.compile(rf"^{NUM} \({NUM} to {NUM}\)$")  # report.tables.format_estimate_ci
VERDICTS = {"above": "the most deprived quintile gained more than the least deprived",
            "below": "the least deprived quintile gained more than the most deprived",
            "covers": "no difference between the most and least deprived quintiles was detected"}


def test_committed_notebook_is_clean_and_quarto_ready():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    h1 = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
          if line.startswith("# ")]
    assert h1 == ["# Interrupted time series by deprivation {#sec-its}"]
    labels_ = [m for c in code for m in LABEL.findall(c.source)]
    assert len(labels_) == len(set(labels_))
    assert all(re.fullmatch(r"(fig|tbl)-its(-[a-z0-9]+)+", lab) for lab in labels_)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert all(f"@{lab}" in prose for lab in labels_)
    assert not any("def " in c.source for c in code)


def side_of_zero(lower: str, upper: str) -> str | None:
    """Where a displayed 95% CI lies: 'above' or 'below' 0, 'covers' it, or None when a bound shows as 0.00 and
    the rounding hides its side ('-0.00' keeps its sign, so only '0.00' is ambiguous)."""
    if lower in ("0.00", "+0.00") or upper in ("0.00", "+0.00"):
        return None
    lo, hi = float(lower), float(upper)
    return "above" if lo > 0 else "below" if hi < 0 else "covers"


def test_executed_headline_verdict_agrees_with_the_effects_table(executed_chapter):
    its = executed_chapter("its")
    header, *rows = its.table("tbl-its-effects")
    horizons = [int(h.split()[0]) for h in header[1:]]
    assert header[1:] == [f"{h} months" for h in horizons] and horizons == sorted(horizons)
    h = max(horizons)
    table = {row[0]: CELL.match(row[-1]).groups() for row in rows}
    assert list(table) == [labels.QUINTILES[q] for q in range(1, 6)] + [labels.CONTRAST]
    headline = [s for s in its.sentences() if s.startswith(f"{h} months after the start, compared with")]
    assert len(headline) == 1, its.sentences()
    m = re.fullmatch(
        rf"{h} months after the start, compared with never-adopting practices of the same quintile, the programme "
        rf"changed the indicator by {NUM} percentage points in the most deprived quintile \(95% CI {NUM} to {NUM}\) "
        rf"and by {NUM} in the least deprived \(95% CI {NUM} to {NUM}\)\. The difference, {labels.CONTRAST}, was "
        rf"{NUM} percentage points \(95% CI {NUM} to {NUM}; p (?:< 0\.001|= 0\.\d\d\d)\): (.+)\.", headline[0])
    assert m, headline[0]
    said = [float(x) for x in m.groups()[:9]]
    shown = [float(x) for key in (labels.QUINTILES[1], labels.QUINTILES[5], labels.CONTRAST) for x in table[key]]
    assert np.allclose(said, shown, atol=0.006), (said, shown)  # the sentence states its own table's numbers
    side = side_of_zero(*table[labels.CONTRAST][1:])
    assert m.group(10) == VERDICTS[side] if side else m.group(10) in VERDICTS.values(), (table, headline)


def test_executed_gap_sentence_verdict_agrees_with_its_numbers(executed_chapter):
    gap = [s for s in executed_chapter("its").sentences() if s.startswith("Uncontrolled: ")]
    assert len(gap) == 1
    m = re.fullmatch(rf"Uncontrolled: \d+ months after the programme started, the gap between the least and most "
                     rf"deprived quintiles of the programme practices \(Q5 minus Q1\) was {NUM} percentage points away "
                     rf"from its counterfactual of {NUM} \(95% CI {NUM} to {NUM}\): the inequality "
                     rf"(narrowed|widened|did not change detectably)\.", gap[0])
    assert m, gap[0]
    change, counterfactual, lo, hi = (float(x) for x in m.groups()[:4])
    if lo > 0.005 or hi < -0.005:
        assert m.group(5) == ("narrowed" if np.sign(change) == -np.sign(counterfactual) else "widened")
    elif lo < -0.005 and hi > 0.005:
        assert m.group(5) == "did not change detectably"


def test_executed_methods_sentence_counts_the_wave_and_comparison_practices(executed_chapter, executed_book,
                                                                             chapter_extract, study):
    measures = pd.read_parquet(executed_book / "outputs" / "measures" / f"{study.default_area}.parquet")
    programme = pd.read_parquet(chapter_extract / f"programme_{study.default_area}.parquet")
    first = pd.to_datetime(programme["programme_start"]).min()
    wave = int((pd.to_datetime(programme["programme_start"]) == first).sum())
    never = len(set(measures["practice_id"].astype(str)) - set(programme["practice_id"].astype(str)))
    assert wave > 0 and never > 0
    methods = executed_chapter("its").sentences()[0]
    assert (f"Adoption wave 1: {wave} practices started the programme in {first:%B %Y} (the interruption, counted "
            f"as the first post month) and {never} practices never adopted it.") in methods, methods


def test_planted_narrowing_gives_the_most_deprived_gained_more_headline(tmp_path):
    """The known answer the notebook test used to check on its own demo extract, now at the package level: a
    planted larger gain in Q1 makes the controlled headline say so (no notebook executed)."""
    measures, programme = simulate_measures_demo("narrowing", seed=7, n_practices=40)
    write_parquet(measures, tmp_path / "measures_demo.parquet")
    write_parquet(programme, tmp_path / "programme_demo.parquet")
    analysis = run_its_analysis(tmp_path / "measures_demo.parquet", tmp_path / "programme_demo.parquet",
                                area="demo", horizons=[6, 12, 24])
    sentences = [its_report.controlled_sentence(analysis), its_report.uncontrolled_sentence(analysis),
                 its_report.gap_sentence(analysis), its_report.uncontrolled_figure_note(analysis)]
    assert "the most deprived quintile gained more than the least deprived" in sentences[0], json.dumps(sentences)
    assert "the inequality narrowed" in sentences[2], sentences[2]
    assert not any(re.search(r"p = 0\.000|'[a-z_]+'", s) for s in sentences), json.dumps(sentences)
