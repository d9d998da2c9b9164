"""The PPIE record (issue 14 item 4): the meeting log is validated, and every sentence and GRIPP2 cell about what the
panel did is computed from it (hand-built logs with known answers)."""

from __future__ import annotations

import textwrap

import pytest

from beyond_averages.files import InputError
from beyond_averages.ppie import load_ppie, read_meetings
from beyond_averages.report import ppie as show

HEADER = "meeting_id,date,stage,format,strand,patients,carers,community_members,asked,changed\n"
LOG = HEADER + textwrap.dedent("""\
    A,2024-03-01,design,online,quantitative,3,0,1,Which area?,Area chosen
    B,2023-11-15,design,in person,all,2,1,0,"Who is missing, and why?",
    C,2024-09-30,dissemination,in person,review,1,1,1,What should the brief say?,Brief shortened
    """)
RECORD = textwrap.dedent("""\
    # SYNTHETIC test record
    aim: To hear patients.
    methods: A panel met.
    reflections:
      went_well: Early meetings.
      went_less_well: Few carers.
    """)

# (name, log text, the one-line message must match): run by tests/test_bad_inputs.py (one line, file and column named).
MALFORMED_LOGS = [
    ("meetings.csv", LOG.replace("2024-03-01", "1 March 2024"), r"row 2 \(meeting 'A'\), column 'date': .*YYYY-MM-DD"),
    ("meetings.csv", LOG.replace("dissemination", "publication"), r"row 4 \(meeting 'C'\), column 'stage': 'publication'"),
    ("meetings.csv", LOG.replace("3,0,1", "3,none,1"), r"column 'carers': 'none' is not a whole number"),
    ("meetings.csv", LOG.replace("3,0,1", "0,0,0"), r"column 'patients': no member took part"),
    ("meetings.csv", LOG.replace("\nB,", "\nA,"), r"row 3 \(meeting 'A'\), column 'meeting_id': already used in row 2"),
    ("meetings.csv", LOG.replace(",asked,", ",question,"), r"missing column\(s\) 'asked'"),
    ("meetings.csv", LOG.replace("Which area?", ""), r"column 'asked': empty"),
]


@pytest.fixture
def record(tmp_path):
    (tmp_path / "meetings.csv").write_text(LOG, encoding="utf-8")
    (tmp_path / "involvement.yaml").write_text(RECORD, encoding="utf-8")
    return load_ppie(tmp_path / "meetings.csv", tmp_path / "involvement.yaml")


def test_log_is_typed_and_ordered_by_date(record):
    assert record.meetings["meeting_id"].tolist() == ["B", "A", "C"]
    assert record.attendance.to_dict() == {"Patients": 6, "Carers": 2, "Community and voluntary sector members": 2}
    assert record.changes["meeting_id"].tolist() == ["A", "C"]
    assert record.is_synthetic


def test_sentences_are_computed_from_the_log(record):
    assert show.methods_sentence(record) == ("The panel met 3 times between November 2023 and September 2024 "
                                             "(2 in person and 1 online), at the design and dissemination stages.")
    assert show.results_sentence(record) == (
        "Members took part 10 times in all (patients 6, carers 2 and community and voluntary sector members 2; a "
        "member at several meetings counts each time). Of the 3 questions put to the panel, 2 led to a recorded "
        "change in the study.")
    assert show.outcomes_sentence(record) == ("The panel's advice changed the literature review (1 change) and the "
                                              "quantitative evaluation (1 change); 1 question led to no change.")


def test_meetings_and_gripp2_tables(record):
    table = show.meetings_frame(record)
    assert table["Date"].tolist() == ["15 Nov 2023", "1 Mar 2024", "30 Sep 2024"]
    assert table["Members"].tolist() == ["3", "4", "3"]
    assert table["What changed"].tolist() == ["No change recorded", "Area chosen", "Brief shortened"]
    assert table["Strand"].tolist() == ["Whole study", "Quantitative evaluation", "Literature review"]
    gripp = show.gripp2_frame(record)
    assert gripp["GRIPP2 short form"].tolist() == ["Aim", "Methods", "Results", "Outcomes", "Critical perspective"]
    assert gripp["Reported here"].iloc[0] == "To hear patients."
    assert gripp["Reported here"].iloc[1].startswith("A panel met. The panel met 3 times")
    assert gripp["Reported here"].iloc[4] == "What went well: Early meetings. What went less well: Few carers."


def test_the_synthetic_record_loads_and_is_labelled():
    record = load_ppie("data_synthetic/ppie/meetings.csv", "data_synthetic/ppie/involvement.yaml")
    assert record.is_synthetic and "Synthetic example data" in show.provenance_note(record)
    assert len(record.meetings) == 6 and len(record.changes) == 5


def test_record_keys_are_required(tmp_path):
    (tmp_path / "meetings.csv").write_text(LOG, encoding="utf-8")
    (tmp_path / "involvement.yaml").write_text(RECORD.replace("  went_well: Early meetings.\n", ""), encoding="utf-8")
    with pytest.raises(InputError, match=r"involvement.yaml: key 'reflections.went_well': missing or empty"):
        load_ppie(tmp_path / "meetings.csv", tmp_path / "involvement.yaml")



def test_the_docs_example_runs(capsys):
    import re

    from beyond_averages import paths

    (block,) = re.findall(r"```python\n(.*?)```", (paths.ROOT / "docs" / "ppie.md").read_text(encoding="utf-8"),
                          flags=re.S)
    exec(compile(block, "docs/ppie.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("The panel met 6 times between February 2023 and October 2024")
    assert "'Critical perspective'" in out
