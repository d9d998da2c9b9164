"""Screening log: hand-worked arithmetic, every error message, the PRISMA boxes, and each real screening export."""

from __future__ import annotations

import pytest

from beyond_averages.files import InputError
from beyond_averages.review import flow, importers
from beyond_averages.review.screening_log import ScreeningLog, read_screening_log
from reference import reference_file


def real(name: str):
    """A real export from the reference folder, or skip naming it (tests/reference.py)."""
    return reference_file(f"real_inputs/{name}")


GOOD = """step,detail,n
identified_database,MEDLINE,300
identified_database,Embase,200
identified_register,ClinicalTrials.gov,20
identified_website,NHS websites,15
identified_citation,,5
duplicates_removed,,100
automation_removed,,10
other_removed,,10
records_screened,,400
records_excluded,,340
reports_sought,,60
reports_not_retrieved,,5
reports_assessed,,55
reports_excluded,Not primary care,30
reports_excluded,No equity analysis,13
other_reports_sought,,8
other_reports_not_retrieved,,1
other_reports_assessed,,7
other_reports_excluded,Not QI,4
new_studies,,12
new_reports,,15
"""


def write(tmp_path, text, name="log.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_hand_made_log_counts_and_boxes(tmp_path):
    log = read_screening_log(write(tmp_path, GOOD))
    assert log.identified(("database", "register")) == 520
    assert log.identified(("website", "organisation", "citation")) == 20
    assert log.excluded("reports_excluded") == 43 and log.excluded("other_reports_excluded") == 4
    assert log.total_studies == 12 and log.total_reports == 15
    assert log.has_other_methods and not log.has_previous
    boxes = flow.prisma_boxes(log).set_index("box")
    expected_n = {"identified": 520, "removed": 120, "screened": 400, "records_excluded": 340, "sought": 60,
                  "not_retrieved": 5, "assessed": 55, "reports_excluded": 43, "other_identified": 20,
                  "other_sought": 8, "other_not_retrieved": 1, "other_assessed": 7, "other_excluded": 4,
                  "included": 12}
    assert boxes["n"].to_dict() == expected_n
    assert boxes.loc["identified", "text"] == (
        "Records identified from:\nDatabases (n = 500)\n  MEDLINE (n = 300)\n  Embase (n = 200)\n"
        "Registers (n = 20)\n  ClinicalTrials.gov (n = 20)")
    assert boxes.loc["reports_excluded", "text"] == (
        "Reports excluded:\nNot primary care (n = 30)\nNo equity analysis (n = 13)")
    assert boxes.loc["included", "text"] == "Studies included in review (n = 12)\nReports of included studies (n = 15)"
    assert boxes.loc["other_identified", "text"].splitlines()[1:] == [
        "Websites (n = 15)", "  NHS websites (n = 15)", "Citation searching (n = 5)"]
    assert ("other_assessed", "included") in flow.prisma_arrows(flow.prisma_boxes(log))
    assert [h for h, _ in flow.prisma_headers(log)] == [
        "Identification of studies via databases and registers", "Identification of studies via other methods"]


def test_previous_version_column(tmp_path):
    log = read_screening_log(write(tmp_path, GOOD + "previous_studies,,4\nprevious_reports,,6\n"))
    boxes = flow.prisma_boxes(log).set_index("box")
    assert boxes.loc["total", "n"] == 16 and log.total_reports == 21
    assert boxes.loc["total", "text"] == ("Total studies included in review (n = 16)\n"
                                          "Reports of total included studies (n = 21)")
    assert boxes.loc["included", "text"].startswith("New studies included in review (n = 12)")
    assert boxes.loc["previous", "column"] == "previous"
    assert ("previous", "total") in flow.prisma_arrows(flow.prisma_boxes(log))


@pytest.mark.parametrize("old, new, message", [
    ("records_screened,,400", "records_screened,,401",
     r"box 'Records screened' is 401 \(row 10, step 'records_screened', column 'n'\), but records identified from "
     r"databases and registers 520 - records removed before screening 120 = 400"),
    ("reports_sought,,60", "reports_sought,,61",
     r"box 'Reports sought for retrieval \(databases and registers\)' is 61 \(row 12, step 'reports_sought', "
     r"column 'n'\), but records screened 400 - records excluded 340 = 60"),
    ("reports_assessed,,55", "reports_assessed,,54",
     r"'Reports assessed for eligibility \(databases and registers\)' is 54 \(row 14"),
    ("other_reports_assessed,,7", "other_reports_assessed,,6", r"'Reports assessed for eligibility \(other methods\)' "
     r"is 6 \(row 19"),
    ("new_reports,,15", "new_reports,,16", r"'Reports of new included studies' is 16 \(row 22, step 'new_reports', "
     r"column 'n'\), but reports assessed 55 - excluded 43 \+ other-methods reports assessed 7 - excluded 4 = 15"),
    ("new_studies,,12", "new_studies,,16", r"'New studies included in review' \(row 21, step 'new_studies', column "
     r"'n'\) is 16, more than its 15 reports"),
    ("other_reports_sought,,8", "other_reports_sought,,21\nother_reports_not_retrieved,,14",
     r"'Reports sought for retrieval \(other methods\)' \(row 17.*is 21, more than the 20 records identified"),
])
def test_each_inconsistency_names_the_box_row_and_column(tmp_path, old, new, message):
    text = GOOD.replace(old, new)
    if "other_reports_not_retrieved,,14" in new:
        text = text.replace("other_reports_not_retrieved,,1\n", "")
    with pytest.raises(InputError, match=message):
        read_screening_log(write(tmp_path, text))


def test_several_problems_reported_together(tmp_path):
    text = GOOD.replace("records_screened,,400", "records_screened,,390")
    with pytest.raises(InputError) as err:
        read_screening_log(write(tmp_path, text))
    assert "'Records screened' is 390" in str(err.value) and "records screened 390 - records excluded 340 = 50" in str(
        err.value)


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("reports_sought,,60", "reports_sought,,sixty"),
     r"row 12 \(step 'reports_sought'\), column 'n': 'sixty' is not a count"),
    (GOOD.replace("reports_sought,,60", "reports_sought,,-60"), r"row 12 .*'-60' is not a count"),
    (GOOD.replace("reports_sought", "report_sought", 1), r"row 12, column 'step': unknown step 'report_sought'"),
    (GOOD.replace("reports_excluded,Not primary care", "reports_excluded,"),
     r"row 15, column 'detail': step 'reports_excluded' needs the exclusion reason"),
    (GOOD + "records_excluded,,1\n", r"row 23, column 'step': 'records_excluded' appears twice \(first at row 11\)"),
    (GOOD.replace("reports_assessed,,55\n", ""), r"column 'step': missing required step\(s\) reports_assessed"),
    ("step,n\nrecords_screened,0\n", r"missing required step"),
    ("stage,n\nx,1\n", r"missing column\(s\) 'step'"),
])
def test_bad_native_logs(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_screening_log(write(tmp_path, text))


def test_semicolon_and_bom_native_log(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace(",", ";").encode("utf-8"))
    assert importers.read_log(path).counts["records_screened"] == 400


# -- real PRISMA2020 app files ---------------------------------------------------------------------------------
def test_real_prisma_template_is_rejected_as_unfilled():
    with pytest.raises(InputError, match=r"no record was identified in any source — row 3 \(previous_studies\), "
                                         r"row 6 \(database_results\), row 8 \(register_results\), row 11 "
                                         r"\(website_results\), row 12 \(organisation_results\), row 13 "
                                         r"\(citations_results\) are all 0 or NA; this looks like the unfilled"):
        importers.read_log(real("prisma/PRISMA2020_template_PRISMA.csv"))


def test_real_dr_eptb_file_read_then_rejected_at_the_right_box():
    path = real("prisma/DR-epTB-review_PRISMA.csv")
    rows = importers.parse_prisma2020_rows(path)
    n = dict(zip(rows["step"], rows["n"]))
    assert (n["identified_database"], n["duplicates_removed"], n["records_screened"], n["records_excluded"]) == (
        1902, 29, 1873, 1840)
    assert (n["reports_sought"], n["reports_not_retrieved"], n["reports_assessed"], n["new_studies"]) == (35, 7, 28, 18)
    reasons = rows.loc[rows["step"] == "reports_excluded", ["detail", "n"]].values.tolist()
    assert reasons == [["Drug resistance patterns in Extra-pulmonary TB sites not described", 10], ["others", 0]]
    assert rows.loc[rows["step"] == "identified_database", "detail"].tolist() == ["Embase"]
    assert "total_reports" not in set(rows["step"])   # template default 0 beside 18 studies = not reported
    with pytest.raises(InputError) as err:
        importers.read_log(path)
    msg = str(err.value)
    assert ("box 'Reports sought for retrieval (databases and registers)' is 35 (row 19, data 'dbr_sought_reports', "
            "column 'n'), but records screened 1,873 - records excluded 1,840 = 33") in msg
    assert msg.count("\n  - ") == 1   # the only inconsistency


def test_real_semicolon_file_read_then_rejected_at_the_right_box():
    path = real("prisma/Fragility-Index-Thesis_PRISMA_semicolon.csv")
    rows = importers.parse_prisma2020_rows(path)
    dbs = rows.loc[rows["step"] == "identified_database", ["detail", "n"]].values.tolist()
    assert dbs == [["EMBASE", 1670], ["PubMed", 871], ["TRIP Database", 165]]
    assert rows.loc[rows["step"] == "identified_website", ["detail", "n"]].values.tolist() == [
        ["Societies Websites", 228]]
    excl = rows.loc[rows["step"] == "reports_excluded"]
    assert excl["n"].sum() == 70 and excl["detail"].iloc[-1] == "Multiple submission"
    assert rows.loc[rows["step"] == "other_reports_excluded", "n"].sum() == 228
    with pytest.raises(InputError, match=r"is 134 \(row 19, data 'dbr_sought_reports', column 'n'\), but records "
                                         r"screened 1,668 - records excluded 1,544 = 124"):
        importers.read_log(path)
    # With the one inconsistent box corrected, everything else adds up and the diagram follows.
    fixed = rows.assign(n=rows["n"].where(rows["step"] != "records_excluded", 1534))
    log = ScreeningLog.from_rows(fixed, "fixed")
    boxes = flow.prisma_boxes(log).set_index("box")
    assert boxes.loc["included", "n"] == 64 and boxes.loc["other_identified", "n"] == 228
    assert boxes.loc["included", "text"] == "Studies included in review (n = 64)"   # reports not reported


def test_prisma_breakdown_that_does_not_sum_names_both_rows(tmp_path):
    text = real("prisma/DR-epTB-review_PRISMA.csv").read_text(encoding="utf-8")
    text = text.replace("Embase, 1902", "Embase, 1900")
    path = write(tmp_path, text, "prisma.csv")
    with pytest.raises(InputError, match=r"row 6 \(data 'database_results'\), column 'n': box 'Databases' is 1,902, "
                                         r"but the sources listed in row 7 \(data 'database_specific_results'\) sum "
                                         r"to 1,900"):
        importers.read_log(path)


def test_prisma_placeholder_reasons_rejected_when_reports_were_assessed(tmp_path):
    text = real("prisma/DR-epTB-review_PRISMA.csv").read_text(encoding="utf-8")
    text = text.replace('"Drug resistance patterns in Extra-pulmonary TB sites not described, 10; others, 0"',
                        '"Reason1, xxx; Reason2, xxx"')
    with pytest.raises(InputError, match=r"row 24 \(data 'dbr_excluded'\), column 'n': the exclusion reasons still "
                                         r"hold the template placeholder"):
        importers.read_log(write(tmp_path, text, "prisma.csv"))


def test_record_level_export_is_not_a_log():
    with pytest.raises(InputError, match="record-level screening export"):
        importers.read_log(real("screening/cff_baseline_rayyan.csv"))


# -- real record-level screening exports -----------------------------------------------------------------------
def test_real_rayyan_export():
    d = importers.read_decisions(real("screening/cff_baseline_rayyan.csv"))
    assert len(d) == 10
    assert d["decision"].value_counts().to_dict() == {"undecided": 4, "included": 2, "maybe": 2, "excluded": 2}
    assert d["doi"].iloc[0] == "10.1038/s41467-024-48400-3"        # leaked RIS line dropped
    assert all(" " not in x for x in d["doi"])
    with pytest.raises(InputError, match=r"column 'notes': screening is not finished — 6 record\(s\).*row 4: maybe; "
                                         r"row 5: maybe; row 8: undecided"):
        importers.decision_rows(d, "title_abstract", "rayyan")


def test_rayyan_conflicts_and_reasons(tmp_path):
    text = ('key,title,year,notes,doi\n'
            'r1,T1,2020,"RAYYAN-INCLUSION: {""A""=>""Included"", ""B""=>""Excluded""}",10.1/x\n'
            'r2,T2,2021,"RAYYAN-INCLUSION: {""A""=>""Excluded""} | RAYYAN-EXCLUSION-REASONS: wrong setting",\n'
            'r3,T3,2021,"RAYYAN-INCLUSION: {""A""=>""Included"", ""B""=>""Included""}",\n')
    d = importers.read_decisions(write(tmp_path, text, "r.csv"))
    assert d["decision"].tolist() == ["conflict", "excluded", "included"]
    assert d["reasons"].tolist() == ["", "wrong setting", ""]
    finished = d.iloc[1:]
    rows = importers.decision_rows(finished, "full_text", "r")
    assert rows.values.tolist() == [["reports_assessed", "", 2], ["reports_excluded", "wrong setting", 1],
                                    ["new_reports", "", 1]]


def test_real_covidence_export_needs_the_list_it_came_from():
    path = real("screening/cff_baseline_covidence.csv")
    with pytest.raises(InputError, match="has no decision column.*pass decision='included' or 'excluded'"):
        importers.read_decisions(path)
    d = importers.read_decisions(path, decision="included")
    assert len(d) == 10 and set(d["decision"]) == {"included"}
    assert d["record_id"].tolist()[:3] == ["#1", "#2", "#6"]
    rows = importers.decision_rows(d, "title_abstract", "cov")
    assert rows["n"].tolist() == [10, 0, 10]


def test_real_labelled_screening_file():
    d = importers.read_decisions(real("screening/synergy_Sep_2021_ids.csv"))
    assert len(d) == 273 and (d["decision"] == "included").sum() == 40
    rows = importers.decision_rows(d, "title_abstract", "synergy")
    assert dict(zip(rows["step"], rows["n"])) == {"records_screened": 273, "records_excluded": 233,
                                                  "reports_sought": 40}
    assert d["doi"].iloc[0] == "10.1002/dev.21432"


def test_rayyan_dois_match_the_ris_exports():
    from beyond_averages.review.references import read_references

    rayyan = set(importers.read_decisions(real("screening/cff_baseline_rayyan.csv"))["doi"])
    for name in ("zotero", "mendeley", "endnote"):
        ris = {r.fields["doi"].lower() for r in read_references(real(f"references/cff_baseline_{name}.ris"))}
        assert ris == rayyan


# -- malformed inputs: every reader names the file and the line, column or key ---------------------------------
PRISMA_COUNTS = {  # a small, consistent PRISMA2020 app file: one row per box, as the app writes it
    "previous_studies": "0", "previous_reports": "0", "database_results": "100", "database_specific_results": "NA",
    "register_results": "0", "register_specific_results": "NA", "website_results": "0",
    "organisation_results": "0", "citations_results": "0", "duplicates": "10", "excluded_automatic": "0",
    "excluded_other": "0", "records_screened": "90", "records_excluded": "70", "dbr_sought_reports": "20",
    "dbr_notretrieved_reports": "2", "dbr_assessed": "18", "dbr_excluded": '"Wrong design, 8"',
    "other_sought_reports": "0", "other_notretrieved_reports": "0", "other_assessed": "0", "other_excluded": "NA",
    "new_studies": "10", "new_reports": "10", "total_studies": "10", "total_reports": "10",
}


def prisma_csv(drop_after: str | None = None) -> str:
    lines = ["data,node,box,description,boxtext,tooltips,url,n"]
    for k, (key, n) in enumerate(PRISMA_COUNTS.items()):
        lines.append(f"{key},node{k},box{k},Box {key},Box {key},NA,{key}.html,{n}")
        if key == drop_after:
            break
    return "\n".join(lines) + "\n"


RAYYAN = 'key,title,year,notes,doi\n' + "".join(
    f'{k},T{k},2020,"RAYYAN-INCLUSION: {{""A""=>""Included""}}",\n' for k in ("r1", "r2", "r1"))
# Run by the project's bad-input suite (tests/test_bad_inputs.py), with the other readers' cases.
MALFORMED_SCREENING = [
    # (reader, file name, text, message after "<file>: ")
    (read_screening_log, "log.csv", GOOD.replace("database,MEDLINE,300", "database,MEDLINE,x,300"),
     r"1 row\(s\) do not have the header's 3 cells — line 2 has 4: an unquoted ',' inside a cell\? quote the cell"),
    (read_screening_log, "log.csv", GOOD.replace("MEDLINE", '"MEDLINE'),
     r"line 2: a quoted cell opened here is never closed \(the file ends at line 22\)"),
    (read_screening_log, "log.csv", GOOD[:GOOD.index("reports_assessed")] + "reports_assessed",
     r"line 14 has 1: a missing cell, or the file is cut short"),
    (read_screening_log, "log.csv", "step,detail,n\n", r"no rows \(the file has a header but no data\)"),
    (read_screening_log, "log.csv", "", r"no rows \(the file is empty\)"),
    (read_screening_log, "log.csv", "step,n,n\nrecords_screened,1,1\n",
     r"line 1: column 'n' appears twice in the header \(columns 2 and 3\)"),
    (read_screening_log, "log.csv", GOOD.replace(",MEDLINE,", ',"MED"LINE,'),
     r"line 2: not valid CSV \(',' expected after '\"'\)"),
    (importers.read_log, "prisma.csv", prisma_csv(drop_after="dbr_notretrieved_reports"),
     r"column 'data': 10 box\(es\) of the PRISMA2020 flow CSV have no row — dbr_assessed \('Reports assessed for "
     r"eligibility \(databases and registers\)'\), dbr_excluded .*the file's last row is row 17 \(data "
     r"'dbr_notretrieved_reports', box 'box15'\): is it cut short\?"),
    (importers.read_log, "prisma.csv", prisma_csv().rsplit("\n", 5)[0][:-40],
     r"line 23 has 5: a missing cell, or the file is cut short"),
    (importers.read_log, "prisma.csv", prisma_csv() + "duplicates,n,b,d,t,NA,u,10\n",
     r"row 28, column 'data': 'duplicates' appears twice \(also row 11\)"),
    (importers.read_log, "prisma.csv", "data,node,box,description,boxtext,tooltips,url,n\n", r"no rows"),
    (importers.read_decisions, "rayyan.csv", RAYYAN,
     r"column 'key': 1 key\(s\) appear more than once — 'r1' on rows 2 and 4; each record must appear once"),
    (importers.read_decisions, "labelled.csv", "record_id,title,label_included\na,T,1\nb,T,0\nb,T,1\na,T,1\n",
     r"column 'record_id': 2 key\(s\) appear more than once — 'a' on rows 2 and 5; 'b' on rows 3 and 4"),
    (lambda p: importers.read_decisions(p, decision="included"), "covidence.csv",
     "Title,DOI,Published Year,Covidence #\nA,,2020,#1\nB,,2021,#1\n",
     r"column 'Covidence #': 1 key\(s\) appear more than once — '#1' on rows 2 and 3"),
    (importers.read_decisions, "rayyan.csv", "key,title,year,notes,doi\n", r"no rows"),
]


def test_consistent_prisma_app_file_reads_and_a_cut_one_does_not(tmp_path):
    log = importers.read_log(write(tmp_path, prisma_csv(), "prisma.csv"))
    assert (log.counts["records_screened"], log.counts["reports_assessed"], log.total_studies) == (90, 18, 10)
    assert [(r.reason, r.n) for r in log.reasons["reports_excluded"]] == [("Wrong design", 8)]
    with pytest.raises(InputError, match=r"column 'data': 1 box\(es\) .* have no row — total_reports") as err:
        importers.read_log(write(tmp_path, prisma_csv(drop_after="total_studies"), "cut.csv"))
    assert "'step'" not in str(err.value)


def test_extraction_with_an_unquoted_comma_or_no_rows(tmp_path):
    from beyond_averages.review.extraction import COLUMNS, read_extraction

    header = ",".join(COLUMNS) + "\n"
    with pytest.raises(InputError, match=r"extraction.csv: no rows \(the file has a header but no data\)"):
        read_extraction(write(tmp_path, header, "extraction.csv"))
    row = ",".join(["k_2020", "2020", "UK, England"] + [""] * (len(COLUMNS) - 3)) + "\n"
    with pytest.raises(InputError, match=rf"extraction.csv: 1 row\(s\) do not have the header's {len(COLUMNS)} "
                                         rf"cells — line 2 has {len(COLUMNS) + 1}"):
        read_extraction(write(tmp_path, header + row, "extraction.csv"))
