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
