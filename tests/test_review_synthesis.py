"""Extraction validation, links to references, every count and cell of the tables, figures and the example data."""

from __future__ import annotations

import filecmp
from types import SimpleNamespace as NS

import pandas as pd
import pytest
from beyond_averages import paths
from beyond_averages.files import InputError
from beyond_averages.report import prisma
from beyond_averages.report import review as show
from beyond_averages.report import review_figures as figures
from beyond_averages.review import load_review, synthesis, synthetic
from beyond_averages.review.extraction import check_links, explode, read_extraction
from beyond_averages.review.references import parse_bibtex

HEADER = ("key,year,country,setting,design,qi_approach,clinical_area,progress_plus,equity_measure,effect_direction,"
          "effect_outcome,sample_size,sample_unit,rob_tool,rob_d1,rob_d2,rob_d3,rob_d4,rob_d5,rob_d6,rob_d7,rob_overall")
ROWS = [
    "s1_2015,2015,England,General practices,cluster_rct,Audit and feedback;outreach,Hypertension,"
    "socioeconomic_status;race_ethnicity,SII,narrowed,BP control,100,practices,rob2,low,low,low,low,low,,,low",
    "s2_2018,2018,England,General practices,ITS,audit_feedback,Diabetes,socioeconomic_status,Gap,widened,HbA1c,10,"
    "practices,ROBINS-I,low,moderate,low,low,low,serious,low,serious",
    "s3_2012,2012,Canada,Health centres,cohort,pdsa,Hypertension,,,not_assessed,,,,,,,,,,,,",
    "s4_2020,2020,Wales,General practices,cluster_rct,pdsa|outreach,Screening,Place of residence,Rural gap,"
    "no change,Uptake,1000,practices,rob2,low,some concerns,low,low,low,,,some_concerns",
]
ROWS[1] = ROWS[1].replace(",ITS,", ",interrupted_time_series,")
BIB = "\n".join(f"@article{{{k}, author = {{Synthetic, A}}, title = {{[SYNTHETIC] {k}}}, year = {{{y}}}}}"
                for k, y in (("s1_2015", 2015), ("s2_2018", 2018), ("s3_2012", 2012), ("s4_2020", 2020)))


@pytest.fixture
def extraction(tmp_path):
    path = tmp_path / "extraction.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return read_extraction(path)


def write_rows(tmp_path, rows):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_extraction_is_normalised_to_codes(extraction):
    assert extraction["qi_approach"].tolist() == ["audit_feedback;outreach", "audit_feedback", "pdsa", "pdsa;outreach"]
    assert extraction["design"].tolist() == ["cluster_rct", "interrupted_time_series", "cohort", "cluster_rct"]
    assert extraction["effect_direction"].tolist() == ["narrowed", "widened", "not_assessed", "no_change"]
    assert extraction["progress_plus"].tolist() == ["race_ethnicity;socioeconomic_status", "socioeconomic_status",
                                                    "", "place_of_residence"]
    assert extraction["rob_tool"].tolist() == ["rob2", "robins_i", "", "rob2"]
    assert extraction.loc[3, "rob_d2"] == "some_concerns" and extraction.loc[1, "rob_d6"] == "serious"
    assert extraction["sample_size"].tolist()[:2] == [100, 10] and pd.isna(extraction.loc[2, "sample_size"])


def test_summary_counts_every_cell(extraction):
    counts = synthesis.summary_counts(extraction)
    got = {(c, k): (n, round(p, 6)) for c, k, n, p in counts.itertuples(index=False)}
    assert got == {
        ("country", "England"): (2, 50.0), ("country", "Canada"): (1, 25.0), ("country", "Wales"): (1, 25.0),
        ("design", "cluster_rct"): (2, 50.0), ("design", "cohort"): (1, 25.0),
        ("design", "interrupted_time_series"): (1, 25.0),
        ("qi_approach", "audit_feedback"): (2, 50.0), ("qi_approach", "outreach"): (2, 50.0),
        ("qi_approach", "pdsa"): (2, 50.0),
        ("clinical_area", "Hypertension"): (2, 50.0), ("clinical_area", "Diabetes"): (1, 25.0),
        ("clinical_area", "Screening"): (1, 25.0),
    }
    assert counts["characteristic"].tolist()[:3] == ["country"] * 3 and counts["category"].iloc[0] == "England"


def test_counts_and_characteristics_tables_every_cell(extraction):
    frame = show.counts_frame(extraction)
    assert frame.values.tolist()[:4] == [["Country", "England", 2, "50.0"], ["", "Canada", 1, "25.0"],
                                         ["", "Wales", 1, "25.0"], ["Design", "Cluster randomised trial", 2, "50.0"]]
    chars = show.characteristics_frame(extraction)
    assert chars["No."].tolist() == [1, 2, 3, 4]
    assert chars["Study"].tolist()[0] == '<span data-qmd="[@s3_2012]">s3_2012</span>'   # year order
    assert chars.iloc[1].to_dict() == {
        "No.": 2, "Study": '<span data-qmd="[@s1_2015]">s1_2015</span>', "Country": "England",
        "Setting": "General practices", "Design": "Cluster randomised trial", "QI approach": "Audit and feedback; Outreach",
        "Clinical area": "Hypertension", "Size": "100 practices",
        "PROGRESS-Plus": "Race, ethnicity, culture, language; Socioeconomic status", "Equity measure": "SII",
        "Effect on inequalities": "Narrowed (BP control)"}
    assert chars.iloc[0][["PROGRESS-Plus", "Equity measure", "Effect on inequalities", "Size"]].tolist() == [
        "None", "Not reported", "Not assessed", ""]
    html = show.characteristics_table(extraction).to_html()
    assert "<th" in html and 'data-qmd="[@s4_2020]"' in html
    design = show.characteristics_frame(extraction, part="design")
    equity = show.characteristics_frame(extraction, part="equity")
    assert list(design.columns) == ["No.", "Study", "Country", "Setting", "Design", "QI approach", "Clinical area",
                                    "Size"]
    assert list(equity.columns) == ["No.", "Study", "PROGRESS-Plus", "Equity measure", "Effect on inequalities"]
    # The two parts split the full table without losing or repeating a column (other than the study identifiers).
    assert set(design.columns) | set(equity.columns) == set(chars.columns)
    assert equity.iloc[1].tolist() == [2, '<span data-qmd="[@s1_2015]">s1_2015</span>',
                                       "Race, ethnicity, culture, language; Socioeconomic status", "SII",
                                       "Narrowed (BP control)"]
    assert "Effect on inequalities" not in show.characteristics_table(extraction, part="design").to_html()
    with pytest.raises(ValueError, match="part must be 'all', 'design' or 'equity', not 'both'"):
        show.characteristics_frame(extraction, part="both")


def test_harvest_data_and_heights(extraction):
    data = synthesis.harvest_data(extraction, "qi_approach", "quality")
    got = [(c, d, k, n, h) for c, d, k, n, h in data[["category", "direction", "key", "study_number", "height"]]
           .itertuples(index=False)]
    assert got == [("audit_feedback", "widened", "s2_2018", 3, 1.0), ("audit_feedback", "narrowed", "s1_2015", 2, 3.0),
                   ("pdsa", "no_change", "s4_2020", 4, 2.0), ("pdsa", "not_assessed", "s3_2012", 1, 1.0),
                   ("outreach", "no_change", "s4_2020", 4, 2.0), ("outreach", "narrowed", "s1_2015", 2, 3.0)]
    with pytest.raises(InputError, match=r"column 'sample_size' is empty for row 4 \('s3_2012'\)"):
        synthesis.harvest_data(extraction, "qi_approach", "size")
    sized = synthesis.harvest_data(extraction.iloc[[0, 1, 3]], "progress_plus", "size").set_index("key")
    assert sized.loc["s2_2018", "height"] == 1.0 and sized.loc["s4_2020", "height"] == 3.0
    assert sized.loc["s1_2015", "height"].iloc[0] == pytest.approx(2.0)     # log10 100 is halfway from 10 to 1000
    wide = synthesis.direction_counts(extraction, "qi_approach")
    assert wide.values.tolist() == [["audit_feedback", 1, 0, 1, 0], ["pdsa", 0, 1, 0, 1], ["outreach", 0, 1, 1, 0]]


def test_coverage_matrix(extraction):
    m = synthesis.coverage_matrix(extraction)
    assert m.index.tolist() == ["audit_feedback", "pdsa", "outreach"] and len(m.columns) == 12
    assert m.loc["audit_feedback", "socioeconomic_status"] == 2 and m.loc["audit_feedback", "race_ethnicity"] == 1
    assert m.loc["pdsa", "place_of_residence"] == 1 and m.loc["outreach"].sum() == 3 and m["religion"].sum() == 0
    by_study = synthesis.coverage_matrix(extraction, by="study")
    assert by_study.index.tolist() == [1, 2, 3, 4] and by_study.loc[1].sum() == 0 and by_study.loc[2].sum() == 2


def test_risk_of_bias_long_and_weighted_summary(extraction):
    long = synthesis.rob_long(extraction)
    assert len(long) == 6 + 8 + 6                          # two RoB 2 studies, one ROBINS-I, one not assessed
    s = synthesis.rob_summary(extraction.iloc[[0, 3]], weighted=True)
    d2 = s.loc[s["domain"] == "D2"].set_index("judgement")["share"]
    assert d2["low"] == pytest.approx(100 / 1100) and d2["some_concerns"] == pytest.approx(1000 / 1100)
    unweighted = synthesis.rob_summary(extraction.iloc[[0, 3]]).query("domain == 'Overall'").set_index("judgement")
    assert unweighted["share"].to_dict() == {"low": 0.5, "some_concerns": 0.5}
    with pytest.raises(InputError, match="column 'sample_size' is empty"):
        synthesis.rob_summary(extraction.assign(sample_size=pd.array([None] * 4, dtype="Int64")), weighted=True)


def test_sentences(extraction):
    assert show.equity_sentence(extraction) == (
        "Of the 4 included studies, 3 assessed the effect on inequalities: 1 found that inequalities narrowed "
        "[@s1_2015], 1 found that inequalities did not change [@s4_2020] and 1 found that inequalities widened "
        "[@s2_2018]; 1 did not assess it.")
    assert show.coverage_sentence(extraction).startswith(
        "The dimension most often considered was socioeconomic status (2 of 4 studies); no study considered occupation,")
    assert show.rob_sentence(extraction) == (
        "1 of 2 studies assessed with RoB 2 were at low overall risk of bias; 0 of 1 study assessed with ROBINS-I "
        "were at low overall risk of bias; 1 study had no risk-of-bias assessment.")
    assert show.cite([]) == "" and show.cite(["a", "b"]) == "[@a; @b]"


def test_study_labels_are_author_year():
    refs = [NS(key="a", authors=("Fictitia, A.",), year=2012), NS(key="b", authors=("Fictitia, A.", "Exemplova, B."),
            year=2013), NS(key="c", authors=("Fictitia, A.", "Exemplova, B.", "Samplewood, C."), year=None)]
    assert figures.study_labels(refs) == {"a": "Fictitia 2012", "b": "Fictitia & Exemplova 2013", "c": "Fictitia et al."}


def test_setting_sentences_follow_the_chapter_settings():
    # The captions are static; these sentences carry what the harvest_height and rob_weighted settings change.
    assert "lower risk of bias" in show.harvest_height_sentence("quality")
    assert "larger studies" in show.harvest_height_sentence("size")
    with pytest.raises(ValueError, match="quality' or 'size'"):
        show.harvest_height_sentence("weight")
    same_unit = pd.DataFrame({"sample_unit": ["practices", "Practices", ""]})
    mixed = pd.DataFrame({"sample_unit": ["practices", "patients"]})
    assert show.rob_summary_sentence(True, same_unit).endswith("the share of practices at each judgement.")
    assert "share of sample units at each judgement (the studies count different units" in show.rob_summary_sentence(
        True, mixed)
    assert "share of studies" in show.rob_summary_sentence(False, mixed)


@pytest.mark.parametrize("index, old, new, message", [
    (0, "cluster_rct", "trial", r"row 2 \(key 's1_2015'\), column 'design': 'trial' is not one of"),
    (0, "Audit and feedback;", "Audit;", r"row 2 \(key 's1_2015'\), column 'qi_approach': 'Audit' is not one of"),
    (0, "race_ethnicity", "caste", r"row 2 \(key 's1_2015'\), column 'progress_plus': 'caste' is not one of"),
    (1, ",2018,England", ",18,England", r"row 3 \(key 's2_2018'\), column 'year': '18' is not a four-digit year"),
    (1, ",widened,", ",worse,", r"row 3 \(key 's2_2018'\), column 'effect_direction': 'worse'"),
    (1, ",HbA1c,", ",,", r"row 3 \(key 's2_2018'\), column 'effect_outcome': empty"),
    (1, ",10,", ",ten,", r"row 3 \(key 's2_2018'\), column 'sample_size': 'ten' is not a whole number"),
    (1, "ROBINS-I", "GRADE", r"row 3 \(key 's2_2018'\), column 'rob_tool': 'GRADE' is not one of: rob2, robins_i"),
    (1, "serious,low,serious", "serious,,serious", r"row 3 \(key 's2_2018'\), column 'rob_d7': '' is not a ROBINS-I"),
    (0, "low,low,,,low", "low,low,low,,low", r"row 2 \(key 's1_2015'\), column 'rob_d6': RoB 2 has 5 domains"),
    (0, "low,low,low,low,low,,,low", "low,moderate,low,low,low,,,low",
     r"row 2 \(key 's1_2015'\), column 'rob_d2': 'moderate' is not a RoB 2 judgement"),
    (2, "not_assessed,,,,,,,,,,,,", "not_assessed,,,,,,,,,,,,low", r"row 4 \(key 's3_2012'\), column 'rob_overall': a judgement is given but"),
    (3, "Place of residence", "", r"row 5 \(key 's4_2020'\), column 'progress_plus': empty, but an effect"),
    (0, ",England,", ",,", r"row 2 \(key 's1_2015'\), column 'country': empty"),
])
def test_extraction_errors_name_row_key_and_column(tmp_path, index, old, new, message):
    rows = list(ROWS)
    assert old in rows[index]
    rows[index] = rows[index].replace(old, new, 1)
    with pytest.raises(InputError, match=message):
        read_extraction(write_rows(tmp_path, rows))


def test_duplicate_key_and_missing_column(tmp_path):
    with pytest.raises(InputError, match=r"row 3 \(key 's1_2015'\), column 'key': key already used in row 2"):
        read_extraction(write_rows(tmp_path, [ROWS[0], ROWS[0]]))
    path = tmp_path / "short.csv"
    path.write_text("key,year\na,2020\n")
    with pytest.raises(InputError, match=r"missing column\(s\) 'country'"):
        read_extraction(path)


def test_links_between_extraction_and_references(extraction):
    refs = parse_bibtex(BIB)
    check_links(extraction, refs, "ex.csv", "refs.bib")
    with pytest.raises(InputError, match=r"ex.csv: column 'key': row 5 \('s4_2020'\) not found in refs.bib"):
        check_links(extraction, refs[:3], "ex.csv", "refs.bib")
    extra = parse_bibtex(BIB + "\n@article{s9_2001, title = {x}, year = {2001}}")
    with pytest.raises(InputError, match=r"refs.bib: line 5 \('s9_2001'\) not in ex.csv \(column 'key'\)"):
        check_links(extraction, extra, "ex.csv", "refs.bib")
    wrong_year = parse_bibtex(BIB.replace("year = {2015}", "year = {2016}"))
    with pytest.raises(InputError, match=r"row 2 \(key 's1_2015'\), column 'year': 2015 but refs.bib line 1 gives 2016"):
        check_links(extraction, wrong_year, "ex.csv", "refs.bib")


def test_example_data_are_the_generators_output_and_labelled_synthetic(tmp_path):
    written = synthetic.write_synthetic_review(tmp_path)
    for path in written:
        assert filecmp.cmp(path, paths.DATA_SYNTHETIC / "review" / path.name, shallow=False), path.name
    again = synthetic.make_synthetic_review(2024)
    assert again["extraction"].equals(synthetic.make_synthetic_review(2024)["extraction"])
    data = load_review(*(paths.DATA_SYNTHETIC / "review" / n for n in
                         ("screening_log.csv", "extraction.csv", "references.bib")))
    assert data.is_synthetic and len(data.extraction) == data.log.counts["new_studies"] == 18
    assert all(r.title.startswith("[SYNTHETIC]") for r in data.references)
    # Distinct, invented surnames (citations read "Fictitia and Fabricatti 2012", not "Synthetic and Synthetic").
    firsts = [r.first_author_family for r in sorted(data.references, key=lambda r: r.key)]
    assert firsts[:3] == ["Fictitia", "Exemplova", "Placeholderson"] and len(set(firsts)) == 18
    assert {a.split(",")[0] for r in data.references for a in r.authors} <= set(synthetic.SURNAMES)
    # Acronyms keep their case on the References page: protected with braces in the committed file.
    bib = (paths.DATA_SYNTHETIC / "review" / "references.bib").read_text(encoding="utf-8")
    assert "[{SYNTHETIC}] Type 2 diabetes and {PDSA} cycles: a fictional" in bib and "pdsa" not in bib.lower().replace(
        "{pdsa}", "")
    assert "Synthetic example data" in show.provenance_note(data)


def test_load_review_checks_study_count(tmp_path):
    src = paths.DATA_SYNTHETIC / "review"
    log = (src / "screening_log.csv").read_text().replace("new_studies,,18", "new_studies,,17")
    (tmp_path / "log.csv").write_text(log)
    with pytest.raises(InputError, match=r"'Total studies included in review' is 17 .* has 18 study rows"):
        load_review(tmp_path / "log.csv", src / "extraction.csv", src / "references.bib")


def test_figures_draw_and_save_byte_stable(tmp_path, extraction):
    src = paths.DATA_SYNTHETIC / "review"
    data = load_review(src / "screening_log.csv", src / "extraction.csv", src / "references.bib")
    fig, _ = prisma.prisma_flow_figure(data.log)
    figures.save_figure(fig, tmp_path / "a.svg")
    figures.save_figure(prisma.prisma_flow_figure(data.log)[0], tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    figures.save_figure(fig, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "Records screened\n(n = 1,094)" in texts and "Identification" in texts
    fig, axes = figures.harvest_plot(extraction)
    assert axes.shape == (3, 4)
    assert [t.get_text() for t in axes[0, 0].texts] == ["3"]             # study 3 widened, audit and feedback
    fig, ax = figures.coverage_heatmap(extraction)
    assert ax.images[0].get_array().sum() == 7            # 4 (s1: 2 dims x 2 approaches) + 1 + 2
    fig, axes = figures.rob_traffic_light(extraction, {"s1_2015": "Fictitia et al. 2015"})
    assert len(axes) == 2
    rows = [t.get_text() for t in axes[0].get_yticklabels()]
    assert "2. Fictitia et al. 2015" in rows and not any("s1_2015" in r for r in rows)   # author-year, not the key
    # One legend per tool, listing that tool's scale only, each level its own colour (no shared swatches).
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in axes]
    assert legends == [["Low (+)", "Some concerns (\u2212)", "High (\u00d7)", "No information (?)"],
                       ["Low (+)", "Moderate (\u2212)", "Serious (\u00d7)", "Critical (!)", "No information (?)"]]
    for ax in axes:
        colours = [tuple(h.get_facecolor()) for h in ax.get_legend().legend_handles]
        assert len(set(colours)) == len(colours)
    assert not fig.legends and [ax.get_title(loc="left") for ax in axes] == ["RoB 2", "ROBINS-I"]
    rob2_only = figures.rob_traffic_light(extraction.loc[extraction["rob_tool"] == "rob2"])[1]
    assert len(rob2_only) == 1
    assert "Moderate (\u2212)" not in [t.get_text() for t in rob2_only[0].get_legend().get_texts()]
    fig, axes = figures.rob_summary_plot(data.extraction, weighted=True)
    assert len(axes) == 2
    assert axes[0].get_xlabel() == "Practices (%)"          # weighted by the studies' own unit, not "participants"
    with pytest.raises(ValueError, match="save as .svg or .png"):
        figures.save_figure(fig, tmp_path / "x.pdf")


def test_prisma_text_is_legible_and_inside_its_boxes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    src = paths.DATA_SYNTHETIC / "review"
    data = load_review(src / "screening_log.csv", src / "extraction.csv", src / "references.bib")
    fig, ax = prisma.prisma_flow_figure(data.log)
    width_in = fig.get_size_inches()[0]
    assert width_in == prisma.PRISMA_WIDTH == 7.0
    # Shown about 765 px (765 / 96 in) wide in the book, every text stays at least 9 pt on screen.
    assert min(t.get_fontsize() for t in ax.texts) * (765 / 96) / width_in >= 9
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [p.get_window_extent(renderer) for p in ax.patches]
    for text in ax.texts:
        if text.get_text():
            bb = text.get_window_extent(renderer)
            assert any(b.x0 <= bb.x0 and bb.x1 <= b.x1 and b.y0 <= bb.y0 and bb.y1 <= b.y1 for b in boxes), \
                text.get_text()
    # Wrapping is measured: "(n = 1,094)" never breaks, and a line is split only where it would not fit.
    assert prisma._wrap("Records screened (n = 1,094)", 1.2) == ["Records screened", "  (n = 1,094)"]
    assert prisma._wrap("Records screened (n = 1,094)", 3.0) == ["Records screened (n = 1,094)"]
    assert prisma._wrap("  MEDLINE (n = 1,253)", 3.0) == ["    MEDLINE (n = 1,253)"]


def test_explode(extraction):
    long = explode(extraction, "progress_plus")
    assert len(long) == 4 and "" not in set(long["progress_plus"])
