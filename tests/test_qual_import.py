"""Importing coded data: CSV shapes, validation errors (each message checked) and pseudonymity."""

from __future__ import annotations

import re
import shutil
import zipfile

import pandas as pd
import pytest

from beyond_averages import paths
from beyond_averages.files import InputError
from beyond_averages.qual import Redactor, build_qual_data, load_csv_project, to_qdpx
from beyond_averages.qual import summaries as S
from beyond_averages.report import qualitative as show
from beyond_averages.qual.__main__ import write_appendix

SYNTHETIC = paths.DATA_SYNTHETIC / "qualitative"


def _tables():
    codebook = pd.DataFrame({"theme": ["T", "T"], "code": ["c1", "c2"], "definition": ["one", "two"]})
    participants = pd.DataFrame({"participant_id": ["P01", "P02"], "role": ["gp", "policy maker"],
                                 "imd_quintile": ["1", ""], "method": ["interview", "interview"],
                                 "collection_order": ["1", "2"]})
    segments = pd.DataFrame({"segment_id": ["s1", "s2"], "participant_id": ["P01", "P02"], "source": ["d1", "d2"],
                             "start": ["0", ""], "end": ["5", ""], "text": ["Hello", "World"]})
    codings = pd.DataFrame({"segment_id": ["s1", "s2"], "code": ["c1", "c2"]})
    return codebook, participants, segments, codings


def _build(**changes):
    tables = dict(zip(("codebook", "participants", "segments", "codings"), _tables()))
    documents = changes.pop("documents", None)
    for key, frame in changes.items():
        tables[key] = frame
    return build_qual_data(tables["codebook"], tables["participants"], tables["segments"], tables["codings"],
                           documents=documents, sources={"codebook": "cb.csv", "participants": "pp.csv",
                                                         "segments": "sg.csv", "codings": "sg.csv"})


def test_valid_tables_build():
    data = _build(documents={"d1": "Hello there"})
    assert data.segments["start"].tolist()[0] == 0 and pd.isna(data.segments["start"].tolist()[1])
    assert data.participants["role"].tolist() == ["gp", "policy_maker"]


# (table, column, new values of its two rows, the error expected): each message names file, row, column and problem.
BAD_CELLS = [
    ("codings", "code", ["c1", "c9"], r"sg.csv: row 2 \(line 3\), column 'code': segment 's2' is coded 'c9', which is "
                                      r"not in the codebook \(cb.csv\)"),
    ("segments", "participant_id", ["P01", "P99"],
     r"sg.csv: row 2 \(line 3\), column 'participant_id': unknown participant 'P99' \(not in pp.csv\)"),
    ("codebook", "code", ["c1", "c1"], r"cb.csv: row 2 \(line 3\), column 'code': code 'c1' is listed twice \(first at row 1\)"),
    ("codebook", "definition", ["one", " "],
     r"cb.csv: row 2 \(line 3\), column 'definition': empty; every code needs a theme, a name and a definition"),
    ("codebook", "code", ["c1", "a;b"], r"contains ';', which separates codes"),
    ("segments", "text", ["Hello", "  "], r"sg.csv: row 2 \(line 3\), column 'text': empty segment text"),
    ("codings", "segment_id", ["s1", "s7"], r"unknown segment 's7'"),
]


@pytest.mark.parametrize("key, column, values, message", BAD_CELLS)
def test_errors_name_file_row_column(key, column, values, message):
    tables = dict(zip(("codebook", "participants", "segments", "codings"), _tables()))
    with pytest.raises(InputError, match=message):
        _build(**{key: tables[key].assign(**{column: values})})


def test_text_must_match_transcript():
    with pytest.raises(InputError, match=r"sg.csv: row 1 \(line 2\), column 'text': the text does not match "
                                         r"'d1'\[0:5\] \(positions count Unicode code points\)"):
        _build(documents={"d1": "Hullo there"})
    with pytest.raises(InputError, match=r"end 5 is past the end of 'd1' \(3 characters\)"):
        _build(documents={"d1": "Hel"})


def _write_project(folder, codebook, participants, segments, transcripts=None):
    folder.mkdir(parents=True, exist_ok=True)
    codebook.to_csv(folder / "codebook.csv", index=False)
    participants.to_csv(folder / "participants.csv", index=False)
    segments.to_csv(folder / "segments.csv", index=False)
    for name, text in (transcripts or {}).items():
        (folder / "transcripts").mkdir(exist_ok=True)
        with open(folder / "transcripts" / f"{name}.txt", "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return folder


def test_csv_shapes_wide_long_and_taguette(tmp_path):
    codebook, participants, segments, _ = _tables()
    wide = segments.assign(codes=["c1;c2", "c2"])
    a = load_csv_project(_write_project(tmp_path / "wide", codebook, participants, wide))
    long = pd.concat([segments.assign(code="c1").iloc[[0]], segments.assign(code="c2")], ignore_index=True)
    b = load_csv_project(_write_project(tmp_path / "long", codebook, participants, long))
    pd.testing.assert_frame_equal(S.theme_summary(a), S.theme_summary(b))
    assert len(a.codings) == 3
    # Taguette's highlights export: id, document, tag, content (one row per tag; empty tag = uncoded).
    taguette = pd.DataFrame({"id": ["1", "1", "2", "3"], "document": ["d1", "d1", "d2", "d2"],
                             "tag": ["c1", "c2", "c2", ""], "content": ["Hello", "Hello", "World", "Again"]})
    folder = _write_project(tmp_path / "tag", codebook, participants, taguette)
    with pytest.raises(InputError, match=r"no 'participant_id' column; add one, or give a sources.csv"):
        load_csv_project(folder)
    pd.DataFrame({"source": ["d1"], "participant_id": ["P01"]}).to_csv(folder / "sources.csv", index=False)
    with pytest.raises(InputError, match=r"source document\(s\) 'd2' are not in sources.csv"):
        load_csv_project(folder)
    pd.DataFrame({"source": ["d1", "d2"], "participant_id": ["P01", "P02"]}).to_csv(folder / "sources.csv",
                                                                                    index=False)
    c = load_csv_project(folder)
    assert len(c.segments) == 3 and len(c.codings) == 3
    pd.testing.assert_frame_equal(S.theme_summary(a), S.theme_summary(c))


def test_csv_file_errors(tmp_path):
    codebook, participants, segments, _ = _tables()
    folder = _write_project(tmp_path / "p", codebook, participants, segments.assign(codes=["c1", "c9"]))
    with pytest.raises(InputError, match=r"segments.csv: row 2 \(line 3\), column 'code': segment 's2' is coded "
                                         r"'c9', which is not in the codebook \(.*codebook.csv\)"):
        load_csv_project(folder)
    _write_project(folder, codebook, participants, segments)
    with pytest.raises(InputError, match=r"segments.csv: no 'codes' \(';'-separated\) or 'code'"):
        load_csv_project(folder)
    conflicting = pd.concat([segments.assign(code="c1"), segments.iloc[[0]].assign(code="c2", text="Other")])
    _write_project(folder, codebook, participants, conflicting)
    with pytest.raises(InputError, match=r"segment 's1' appears on several rows with different text"):
        load_csv_project(folder)
    (folder / "codebook.csv").write_bytes("theme,code,definition\nT,c\xe9,x\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"codebook.csv: not UTF-8 text"):
        load_csv_project(folder)
    (folder / "codebook.csv").unlink()
    with pytest.raises(InputError, match=r"codebook.csv: file not found"):
        load_csv_project(folder)
    with pytest.raises(InputError, match=r"no such project folder"):
        load_csv_project(tmp_path / "absent")


def test_transcripts_keep_crlf_and_drop_bom(tmp_path):
    codebook, participants, segments, _ = _tables()
    text = "\ufeffHi\r\nHello"  # BOM dropped; \r\n is two code points, so "Hello" starts at 4
    segs = segments.assign(start=["4", ""], end=["9", ""], codes=["c1", "c2"])
    folder = _write_project(tmp_path / "p", codebook, participants, segs, {"d1": text})
    data = load_csv_project(folder)
    assert data.documents["d1"] == "Hi\r\nHello"


def test_synthetic_project_loads_with_real_counts():
    data = load_csv_project(SYNTHETIC)
    assert (len(data.codebook), len(data.themes), len(data.participants)) == (17, 6, 13)
    assert (len(data.segments), len(data.codings), len(data.documents)) == (43, 57, 10)
    assert data.participants["collection_order"].nunique() == 10
    for source, text in data.documents.items():
        assert text.startswith("SYNTHETIC TRANSCRIPT"), source
    curve = S.saturation_curve(data)
    assert curve["new_codes"].tolist() == [4, 2, 2, 3, 5, 1, 0, 0, 0, 0]


# ------------------------------------------------------------------------------------------------- pseudonymity

NAMES = {"P01": "Aurelia Fennimore", "P02": "Bartholomew Quince"}
TRANSCRIPT = ("Interviewer: Thank you, Aurelia.\n"
              "P01: Dr Quince and I — Aurelia Fennimore, for the record — never split the figures.\n")


def _planted(tmp_path):
    codebook, participants, _, _ = _tables()
    participants = participants.assign(real_name=[NAMES["P01"], NAMES["P02"]],
                                       setting=["Fennimore Street Surgery", "Department"])
    seg1 = "Dr Quince and I — Aurelia Fennimore, for the record — never split the figures."
    start = TRANSCRIPT.index(seg1)
    segments = pd.DataFrame({
        "segment_id": ["s1", "s2", "s3"], "participant_id": ["P01", "P02", "P01"],
        "source": ["Interview with Aurelia", "d2", "Interview with Aurelia"],
        # s3 starts inside "Fennimore" ("nimore, for the record"): the cut must widen to the whole replacement.
        "start": [str(start), "", str(start + seg1.index("nimore"))],
        "end": [str(start + len(seg1)), "", str(start + seg1.index(", for"))],
        "text": [seg1, "BARTHOLOMEW told me that quince jam is not a name here.", "nimore"],
        "codes": ["c1", "c2", "c2"],
    })
    return _write_project(tmp_path / "planted", codebook, participants, segments,
                          {"Interview with Aurelia": TRANSCRIPT})


def test_real_names_never_reach_any_output(tmp_path):
    data = load_csv_project(_planted(tmp_path))
    assert "real_name" not in data.participants.columns
    texts = dict(zip(data.segments["segment_id"], data.segments["text"]))
    assert texts["s1"] == "Dr [P02] and I — [P01], for the record — never split the figures."
    assert texts["s2"] == "[P02] told me that [P02] jam is not a name here."  # case-insensitive, over-redacts
    assert texts["s3"] == "[P01]"
    assert data.segments["source"].tolist()[0] == "Interview with [P01]"
    assert data.participants["setting"].tolist()[0] == "[P01] Street Surgery"
    # Every output, written and in memory.
    out = tmp_path / "out"
    matrix = S.framework_matrix(data)
    show.write_framework_matrix(matrix, out / "m.csv", out / "m.html")
    to_qdpx(data, out / "p.qdpx")
    outputs = [(out / "m.csv").read_text(encoding="utf-8"), (out / "m.html").read_text(encoding="utf-8")]
    with zipfile.ZipFile(out / "p.qdpx") as archive:
        outputs += [archive.read(n).decode("utf-8") for n in archive.namelist()]
    curve = S.saturation_curve(data)
    frames = [S.theme_summary(data), matrix, S.exemplar_quotes(data, min_chars=0), S.co_occurrence(data), curve,
              S.theme_by_deprivation(data), S.counts_by_role(data), data.segments, data.participants]
    outputs += [f.to_csv() for f in frames]
    outputs += [show.overview_sentence(data), show.saturation_sentence(curve), repr(data)]
    outputs += list(data.documents) + list(data.documents.values())
    parts = {p for name in NAMES.values() for p in name.split()}
    for text in outputs:
        for part in parts:
            assert not re.search(part, text, re.IGNORECASE), (part, text[:200])
    quotes = S.exemplar_quotes(data, min_chars=0)
    assert set(quotes["attribution"]) <= {"P01, GP", "P02, policy maker"}


def test_real_name_column_in_synthetic_copy(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(SYNTHETIC, folder)
    people = pd.read_csv(folder / "participants.csv", dtype=str, keep_default_na=False)
    people.insert(1, "Name", [f"Imaginary Person{chr(65 + i)}" for i in range(len(people))])
    people.to_csv(folder / "participants.csv", index=False)
    written = write_appendix(folder, tmp_path / "appendix")
    for path in written:
        blob = path.read_bytes()
        if path.suffix == ".qdpx":
            with zipfile.ZipFile(path) as archive:
                blob = b"".join(archive.read(n) for n in archive.namelist())
        assert b"Imaginary" not in blob and not re.search(rb"Person[A-M]\b", blob), path.name


def test_redactor_offsets():
    redactor = Redactor.from_names({"P07": ["Ann Lee"], "P08": ["Ann Brown"]})
    text, move = redactor.redact_with_offsets("Ann Lee met Ann. Annual leave.")
    assert text == "[P07] met [name]. Annual leave."  # a shared first name becomes [name]; 'Annual' is kept
    assert move(0) == 0 and move(8) == 6 and move(2, "start") == 0 and move(2, "end") == 5
    assert Redactor.from_names({}).redact("Ann") == "Ann" and not Redactor.from_names({}).active


# ------------------------------------------------------------------------------------- malformed CSV projects

SEGMENTS_HEADER = "segment_id,participant_id,source,start,end,text,codes\n"


def _good_project(folder):
    """The two-participant project of _tables() as files, with positions that need no transcript."""
    codebook, participants, segments, _ = _tables()
    return _write_project(folder, codebook, participants, segments.assign(codes=["c1", "c2"]))


def _replace(name, text):
    def change(folder):
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return change


# (change to a good project, the file at fault, the message naming the file's line, row, column or problem)
# Run by the project's bad-input suite (tests/test_bad_inputs.py), with the other readers' cases.
MALFORMED_CSV_PROJECTS = [
    # An unquoted comma in the first data row: pandas would silently take the first column as an index.
    (_replace("segments.csv", SEGMENTS_HEADER + "s1,P01,d1,0,5,Hello, there,c1\ns2,P02,d2,,,World,c2\n"),
     "segments.csv", r"1 row\(s\) do not have the header's 7 cells — line 2 has 8: an unquoted ',' inside a cell"),
    (_replace("segments.csv", SEGMENTS_HEADER + 's1,P01,d1,0,5,"Hello,c1\ns2,P02,d2,,,World,c2\n'),
     "segments.csv", r"line 2: a quoted cell opened here is never closed \(the file ends at line 3\)"),
    (_replace("segments.csv", SEGMENTS_HEADER + "s1,P01,d1,0,5,Hello,c1\ns2,P02,d2\n"),
     "segments.csv", r"line 3 has 3: a missing cell, or the file is cut short"),
    (_replace("segments.csv", SEGMENTS_HEADER), "segments.csv", r"no rows \(the file has a header but no data\)"),
    (_replace("segments.csv", SEGMENTS_HEADER + "s1,P01,d1,0,5,Hello,\ns2,P02,d2,,,World,\n"),
     "segments.csv", r"no rows \(no segment is coded with a code of the codebook\)"),
    (_replace("segments.csv", SEGMENTS_HEADER + 's1,P01,d1,0,5,"Hel"lo,c1\n'), "segments.csv",
     r"line 2: not valid CSV \(',' expected after '\"'\)"),
    (_replace("codebook.csv", "theme,code,definition\n"), "codebook.csv", r"no rows"),
    (_replace("codebook.csv", "theme,code,code,definition\nT,c1,c1,one\n"), "codebook.csv",
     r"line 1: column 'code' appears twice in the header \(columns 2 and 3\)"),
    (_replace("participants.csv", ""), "participants.csv", r"no rows \(the file is empty\)"),
    (_replace("participants.csv", b"participant_id,role,method,collection_order\nP01,g\xe9,interview,1\n"),
     "participants.csv", r"not UTF-8 text \(byte 49\)"),
    (_replace("sources.csv", "source,participant_id\n"), "sources.csv", r"no rows"),
    # Without a transcript the positions rebuild the source, so overlapping segments must agree.
    (_replace("segments.csv", SEGMENTS_HEADER + "s1,P01,d1,0,5,Hello,c1\ns2,P01,d1,3,8,XYabc,c2\n"),
     "segments.csv", r"rows 1 and 2 \(lines 2 and 3\), columns 'start', 'end', 'text': segments 's1' \[0:5\] and "
                     r"'s2' \[3:8\] of 'd1' overlap but differ at position 3 \('l' vs 'X'\)"),
    (_replace("segments.csv", SEGMENTS_HEADER + "s1,P01,d1,0,4,Hello,c1\n"),
     "segments.csv", r"row 1 \(line 2\), column 'end': end - start = 4 but the text has 5 code points"),
]


def test_pseudonymisation_folds_accents_and_splits_tokens(tmp_path):
    redactor = Redactor.from_names({"P01": ["Simon Okafor"], "P02": ["Zoë Brennan"], "P03": ["Jo Li"]})
    assert redactor.redact("simon_okafor_interview") == "[P01]_interview"
    assert redactor.redact("Okafor.notes; OKAFOR-2") == "[P01].notes; [P01]-2"
    assert redactor.redact("Zoe, ZOË, zoe_brennan, Zoë") == "[P02], [P02], [P02], [P02]"
    assert redactor.redact("Zoe\u0308 spoke") == "[P02] spoke"              # decomposed accent goes with the name
    assert redactor.redact("A Zoetrope, Simonetta") == "A Zoetrope, Simonetta"   # whole tokens only
    assert redactor.redact("Jo and Li met Jo Li") == "Jo and Li met [P03]"     # parts < 3 letters only in full
    # The folder of a CSV project: names in source (= transcript file) names, transcripts, text, settings and the
    # codebook's definitions; none reaches the data or the REFI-QDA export (source names, memos, attributes).
    codebook, participants, _, _ = _tables()
    codebook = codebook.assign(definition=["Okafor's point", "two"])
    participants = participants.assign(real_name=["Simon Okafor", "Zoë Brennan"],
                                       setting=["Okafor.notes practice", "ZOE BRENNAN unit"])
    transcript = "Q: Simon? A: Zoe said so. A Zoetrope."
    segments = pd.DataFrame({"segment_id": ["s1", "s2"], "participant_id": ["P01", "P02"],
                             "source": ["simon_okafor_interview", "zoe_brennan_notes"], "start": ["3", ""],
                             "end": ["9", ""], "text": ["Simon?", "Zoë and ZOË"], "codes": ["c1", "c2"]})
    folder = _write_project(tmp_path / "p", codebook, participants, segments,
                            {"simon_okafor_interview": transcript})
    data = load_csv_project(folder)
    assert sorted(data.segments["source"]) == ["[P01]_interview", "[P02]_notes"]
    assert data.documents == {"[P01]_interview": "Q: [P01]? A: [P02] said so. A Zoetrope."}
    assert data.segments["text"].tolist() == ["[P01]?", "[P02] and [P02]"]
    assert data.codebook["definition"].tolist() == ["[P01]'s point", "two"]
    assert data.participants["setting"].tolist() == ["[P01].notes practice", "[P02] unit"]
    path = to_qdpx(data, tmp_path / "project.qdpx")
    with zipfile.ZipFile(path) as archive:
        blob = " ".join([*archive.namelist(), *(archive.read(n).decode("utf-8") for n in archive.namelist())])
    assert redactor.names_found(blob) == [] and "Zoetrope" in blob


def test_an_id_holding_a_real_name_is_refused_without_printing_it(tmp_path):
    codebook, participants, segments, _ = _tables()
    participants = participants.assign(real_name=["Simon Okafor", "Zoë Brennan"])
    segments = segments.assign(segment_id=["s1", "okafor_2"], codes=["c1", "c2"])
    folder = _write_project(tmp_path / "p", codebook, participants, segments)
    with pytest.raises(InputError, match=r"segments.csv: row 2 \(line 3\), column 'segment_id': the ID contains a "
                                         r"participant's real name") as err:
        load_csv_project(folder)
    assert "okafor" not in str(err.value).lower()


def _run_qual_cli(cwd, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "beyond_averages.qual", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_leaves_the_appendix_untouched_on_error_and_resolves_paths_from_cwd(tmp_path):
    folder = _good_project(tmp_path / "data")
    out = tmp_path / "appendix"
    out.mkdir()
    (out / "theme_summary.csv").write_text("old\n", encoding="utf-8")
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # Two overlapping segments that disagree: the error comes before any file is written.
    _replace("segments.csv", SEGMENTS_HEADER + "s1,P01,d1,0,5,Hello,c1\ns2,P01,d1,3,8,XYabc,c2\n")(folder)
    result = _run_qual_cli(tmp_path, "data", "appendix")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {folder / 'segments.csv'}: rows 1 and 2")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appendix", "data"]   # no staging folder left behind
    # A header-only segments file: error, and a new OUT is not even created.
    _replace("segments.csv", SEGMENTS_HEADER)(folder)
    result = _run_qual_cli(tmp_path, "data", "new_out")
    assert result.returncode == 2 and result.stderr.strip().endswith("no rows (the file has a header but no data)")
    assert not (tmp_path / "new_out").exists()
    debug = _run_qual_cli(tmp_path, "data", "new_out", "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "InputError" in debug.stderr
    # Fixed: both relative paths are taken from the working directory; the six files replace the old ones.
    _good_project(folder)
    result = _run_qual_cli(tmp_path, "data", "appendix")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "exemplar_quotes.csv", "framework_matrix.csv", "framework_matrix.html", "notes.txt", "project.qdpx",
        "saturation.csv", "theme_summary.csv"])
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert (out / "theme_summary.csv").read_text(encoding="utf-8").startswith("level,theme,code,definition")
