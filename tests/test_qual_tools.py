"""Exports in each tool's convention, hand-built here (no vendor file is committed): NVivo (UTF-16 positions over
CRLF text with emoji, one selection per code on one passage, no Cases, codes without description), MAXQDA
(lower-case ``sources/``, a codebook-only project), a bare ``.qde``, QualCoder's coding-report CSV, and the real
ATLAS.ti export from the reference folder. Each asserts exact passage text, passage and coding counts and
co-occurrence cells; the writer's output in each unit is read back to the same summaries.
"""

from __future__ import annotations

import csv
import io
import warnings
import xml.etree.ElementTree as ET
import zipfile

import pandas as pd
import pandas.testing as pdt
import pytest

from beyond_averages import paths
from beyond_averages.files import InputError
from beyond_averages.qual import load_csv_project, load_project, load_qdpx, load_qualcoder_csv, read_qdpx, to_qdpx
from beyond_averages.qual import summaries as S
from beyond_averages.qual.positions import Utf16Index, decide_unit, gather_evidence
from beyond_averages.report import qualitative as show
from reference import reference_file

G = "00000000-0000-0000-0000-0000000000{:02d}"
# SYNTHETIC interview text. CRLF line ends and three emoji (each two UTF-16 code units, one code point).
DOC = ("Q: How is the clinic?\r\nA: Busy 😀 but fine. The waiting list 🙂 keeps growing every month.\r\n"
       "Q: And staff?\r\nA: Kind 👍 and quick. Nobody leaves early.\r\nQ: Thank you.\r\n")
PASSAGES = {"list": "The waiting list 🙂 keeps growing every month.", "staff": "Kind 👍 and quick.",
            "early": "Nobody leaves early.", "busy": "Busy 😀 but fine."}


def u16(text: str, passage: str) -> tuple[int, int]:
    """The passage's span in UTF-16 code units, counted by encoding (as a .NET string index counts)."""
    i = text.index(passage)
    return len(text[:i].encode("utf-16-le")) // 2, len(text[:i + len(passage)].encode("utf-16-le")) // 2


def _selection(guid: int, span: tuple[int, int], code: int, user: int = 90) -> str:
    return (f'<PlainTextSelection guid="{G.format(guid)}" startPosition="{span[0]}" endPosition="{span[1]}" '
            f'creatingUser="{G.format(user)}"><Coding guid="{G.format(guid + 50)}" creatingUser="{G.format(user)}">'
            f'<CodeRef targetGUID="{G.format(code)}"/></Coding></PlainTextSelection>')


def _project(origin: str, selections: str, codes_described=True) -> str:
    desc = "<Description>d</Description>" if codes_described else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="t" '
            f'origin="{origin}"><Users><User guid="{G.format(90)}" name="coder A"/>'
            f'<User guid="{G.format(91)}" name="coder B"/></Users>'
            f'<CodeBook><Codes><Code guid="{G.format(1)}" name="Access" isCodable="true">'
            f'<Code guid="{G.format(2)}" name="Waiting" isCodable="true">{desc}</Code>'
            f'<Code guid="{G.format(3)}" name="Demand" isCodable="true"></Code>'
            f'<Code guid="{G.format(4)}" name="Staff" isCodable="true">{desc}</Code></Code></Codes></CodeBook>'
            f'<Sources><TextSource guid="{G.format(30)}" name="Interview 1" '
            f'plainTextPath="internal://{G.format(30)}.txt">{selections}</TextSource></Sources></Project>')


def _archive(tmp_path, xml: str, folder="Sources", text=DOC, name="x.qdpx"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        archive.writestr(f"{folder}/{G.format(30)}.txt", text.encode("utf-8"))
    return path


def _nvivo(tmp_path, unit=u16, origin="NVivo 12 (Windows)"):
    span = (lambda p: unit(DOC, PASSAGES[p])) if unit is u16 else (
        lambda p: (DOC.index(PASSAGES[p]), DOC.index(PASSAGES[p]) + len(PASSAGES[p])))
    # One selection per code on the "list" passage (NVivo's way), as the tool writes them.
    sels = (_selection(40, span("list"), 2) + _selection(41, span("list"), 3) + _selection(42, span("staff"), 4)
            + _selection(43, span("early"), 4) + _selection(44, span("busy"), 3))
    return _archive(tmp_path, _project(origin, sels, codes_described=False))


def test_utf16_index_against_encoding():
    index = Utf16Index(DOC)
    assert index.length == len(DOC.encode("utf-16-le")) // 2 == len(DOC) + 3
    start, _ = u16(DOC, PASSAGES["staff"])
    assert index.to_codepoint(start) == DOC.index(PASSAGES["staff"])
    emoji = DOC.index("😀")
    assert index.to_codepoint(index.to_utf16(emoji) + 1) is None  # inside the surrogate pair


def test_nvivo_utf16_positions_crlf_emoji_and_one_selection_per_code(tmp_path):
    path = _nvivo(tmp_path)
    with pytest.warns(UserWarning, match=r"3 code\(s\) have no description.*'Waiting', 'Demand', 'Staff'") as caught:
        data = load_qdpx(path)
    assert len(caught) == 1  # NVivo + the text agree: no unit warning
    assert read_qdpx(path).position_unit == "utf16"
    texts = dict(zip(data.segments["segment_id"], data.segments["text"]))
    assert sorted(texts.values()) == sorted(PASSAGES.values())  # every passage exact, emoji and all
    # 5 selections on 4 passages; the "list" passage carries both of its codes.
    assert (len(data.segments), len(data.codings), len(data.coder_codings)) == (4, 5, 5)
    matrix = S.co_occurrence(data)
    assert matrix.loc["Waiting", "Demand"] == 1 and matrix.loc["Demand", "Demand"] == 2
    assert matrix.loc["Staff", "Staff"] == 2 and matrix.loc["Staff", "Waiting"] == 0
    # No Cases: one participant for the one source, role unknown, said in the chapter's sentence.
    assert data.participants[["participant_id", "role"]].values.tolist() == [["P01", "unknown"]]
    sentence = show.overview_sentence(data)
    assert "4 coded segments carrying 5 codings" in sentence and "whose role is not known" in sentence
    assert data.documents["Interview 1"].count("\r\n") == 5  # CRLF kept: positions count the CR


def test_reading_nvivo_positions_as_code_points_drifts(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = read_qdpx(_nvivo(tmp_path), position_unit="codepoint")
    wrong = set(project.selections["text"])
    assert "The waiting list 🙂 keeps growing every month." not in wrong
    # One emoji before it: the passage starts one code point late, mid-word, and runs into the line end.
    assert "he waiting list 🙂 keeps growing every month.\r\n" in wrong


def test_auto_warns_when_the_text_contradicts_the_tool(tmp_path):
    path = _nvivo(tmp_path, unit=None)  # code-point positions, but the project says NVivo
    with pytest.warns(UserWarning, match=r"x.qdpx: the writing tool \('NVivo 12 \(Windows\)'\) suggests UTF-16 "
                                         r"code units but the text says Unicode code points \(5 of 5 spans differ"):
        project = read_qdpx(path)
    assert project.position_unit == "codepoint"
    assert set(project.selections["text"]) == set(PASSAGES.values())


def test_unknown_tool_weak_evidence_warns_with_counts():
    evidence = gather_evidence([("s", *u16(DOC, "How is the clinic?"))], {"s": DOC})
    assert (evidence.spans, evidence.differing) == (1, 0)  # before the first emoji both units agree
    evidence = gather_evidence([("s", *u16(DOC, PASSAGES["staff"]))], {"s": DOC})
    assert (evidence.differing, evidence.fit_utf16, evidence.fit_codepoint) == (1, 1, 0)
    with pytest.warns(UserWarning, match=r"proj: positions read as Unicode code points, from the project \(no "
                                         r"origin\), but the evidence on the text is weak: 1 of 1 spans differ"):
        assert decide_unit("auto", "", evidence, "proj") == "codepoint"


def test_writer_round_trip_in_each_unit(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_qdpx(_nvivo(tmp_path))
    for target in ("refi", "nvivo"):
        path = to_qdpx(data, tmp_path / f"{target}.qdpx", target=target)
        project = read_qdpx(path)
        assert project.position_unit == ("utf16" if target == "nvivo" else "codepoint")
        with zipfile.ZipFile(path) as archive:
            xml = archive.read("project.qde").decode("utf-8")
        start, end = u16(DOC, PASSAGES["staff"]) if target == "nvivo" else (
            DOC.index(PASSAGES["staff"]), DOC.index(PASSAGES["staff"]) + len(PASSAGES["staff"]))
        assert f'startPosition="{start}" endPosition="{end}"' in xml
        with pytest.warns(UserWarning, match=r"3 code\(s\) have no description"):  # still none: said again
            back = load_qdpx(path)
        for summary in (S.theme_summary, S.co_occurrence, S.saturation_curve, S.framework_matrix):
            pdt.assert_frame_equal(summary(data), summary(back), obj=f"{target}: {summary.__name__}")


def _selections_written(path) -> list[tuple[str, int, int, int]]:
    """(source guid, start, end, number of Coding children) of every PlainTextSelection in the archive's XML."""
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("project.qde"))
    q = "{urn:QDA-XML:project:1.0}"
    return [(src.get("guid"), int(sel.get("startPosition")), int(sel.get("endPosition")),
             len(sel.findall(f"{q}Coding"))) for src in root.iter(f"{q}TextSource")
            for sel in src.findall(f"{q}PlainTextSelection")]


def _codes_per_passage(data) -> dict[str, list[str]]:
    return {sid: sorted(c) for sid, c in data.codings.groupby("segment_id")["code"]}


def _passages(data):
    return data.segments[["participant_id", "source", "start", "end", "text"]].sort_values(
        ["source", "start", "end"], ignore_index=True)


def test_nvivo_convention_one_selection_per_code_reads_back_as_refi(tmp_path):
    # The synthetic study: 43 passages, 14 of them with two codes (57 codings); its focus group and case study
    # share a source among participants, so their 13 passages (17 codings) are tied to a Case by SelectionRef.
    data = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    assert (len(data.segments), len(data.codings)) == (43, 57)
    refi = to_qdpx(data, tmp_path / "refi.qdpx", target="refi")
    nvivo = to_qdpx(data, tmp_path / "nvivo.qdpx", target="nvivo")
    assert nvivo.read_bytes() == to_qdpx(data, tmp_path / "again.qdpx", target="nvivo").read_bytes()
    written = {"refi": _selections_written(refi), "nvivo": _selections_written(nvivo)}
    # refi: one selection per passage, 14 holding two codings; NVivo: one selection (one Coding) per code.
    assert len(written["refi"]) == 43 and [n for *_, n in written["refi"]].count(2) == 14
    assert len(written["nvivo"]) == 57 and {n for *_, n in written["nvivo"]} == {1}
    spans = [s[:3] for s in written["nvivo"]]
    assert len(set(spans)) == 43 and sum(spans.count(s) == 2 for s in set(spans)) == 14
    for name, count in (("refi", 13), ("nvivo", 17)):  # every selection of a shared-source passage has its Case
        assert len(read_qdpx(tmp_path / f"{name}.qdpx").case_members.query("kind == 'selection'")) == count
    back = {name: load_qdpx(path) for name, path in (("refi", refi), ("nvivo", nvivo))}
    pdt.assert_frame_equal(back["refi"].segments, back["nvivo"].segments)  # same passages, same ids
    pdt.assert_frame_equal(_passages(back["nvivo"]), _passages(data), check_dtype=False)
    assert _codes_per_passage(back["refi"]) == _codes_per_passage(back["nvivo"])
    assert sum(len(c) == 2 for c in _codes_per_passage(back["nvivo"]).values()) == 14
    for name, got in back.items():
        assert (len(got.segments), len(got.codings)) == (43, 57), name
        pdt.assert_frame_equal(S.theme_summary(got), S.theme_summary(data), obj=f"{name}: theme_summary")
        matrix = S.co_occurrence(got)
        pdt.assert_frame_equal(matrix, S.co_occurrence(data), obj=f"{name}: co_occurrence")
        # Each two-code passage is one co-occurring pair, counted once above the diagonal.
        assert sum(matrix.iat[i, j] for i in range(len(matrix)) for j in range(i + 1, len(matrix))) == 14


def test_nvivo_convention_utf16_selection_per_code_on_emoji_text(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # codes without description: asserted above
        data = load_qdpx(_nvivo(tmp_path))
        path = to_qdpx(data, tmp_path / "nvivo_out.qdpx", target="nvivo")
        back = load_qdpx(path)
    written = _selections_written(path)
    # 5 codings on 4 passages: 5 selections, one Coding each; the "list" passage (Waiting + Demand) is two
    # selections with one UTF-16 span (one emoji before it: one unit past its code-point span).
    assert len(written) == 5 and {n for *_, n in written} == {1}
    start, end = u16(DOC, PASSAGES["list"])
    assert (start, end) == (DOC.index(PASSAGES["list"]) + 1, DOC.index(PASSAGES["list"]) + len(PASSAGES["list"]) + 2)
    assert [(s, e) for _, s, e, _ in written].count((start, end)) == 2
    assert sorted(back.segments["text"]) == sorted(PASSAGES.values())
    texts = dict(zip(back.segments["segment_id"], back.segments["text"]))
    assert {texts[sid]: codes for sid, codes in _codes_per_passage(back).items()}[PASSAGES["list"]] == [
        "Demand", "Waiting"]
    assert (len(back.segments), len(back.codings)) == (4, 5)
    assert S.co_occurrence(back).loc["Waiting", "Demand"] == 1


def test_maxqda_lower_case_sources_codebook_only_and_bare_qde(tmp_path):
    xml = _project("MAXQDA 24", "").replace(f"internal://{G.format(30)}.txt", f"internal://{G.format(30)}.TXT")
    path = _archive(tmp_path, xml, folder="sources")
    project = read_qdpx(path)
    assert project.texts[G.format(30)] == DOC  # internal:// resolved whatever the case
    with pytest.warns(UserWarning, match=r"1 code\(s\) have no description.*'Demand'"):
        data = load_qdpx(path)
    assert (len(data.codebook), len(data.segments), len(data.codings)) == (3, 0, 0)
    assert "0 coded passages (the project holds no codings yet) against a codebook of 3 codes in 1 themes" in \
        show.overview_sentence(data)
    assert S.theme_summary(data)["n_segments"].tolist() == [0, 0, 0, 0]
    bare = tmp_path / "project.qde"
    bare.write_text(xml, encoding="utf-8")
    with pytest.warns(UserWarning):
        alone = load_project(bare)
    assert list(alone.codebook["code"]) == ["Waiting", "Demand", "Staff"] and alone.documents == {}


def test_mapping_file_gives_participants_and_roles(tmp_path):
    (tmp_path / "people.csv").write_text("source,participant_id,role\nInterview 1,P07,gp\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_qdpx(_nvivo(tmp_path), participants=tmp_path / "people.csv")
    assert data.participants[["participant_id", "role"]].values.tolist() == [["P07", "gp"]]
    assert set(data.segments["participant_id"]) == {"P07"} and data.participants_from == "mapping"
    (tmp_path / "bad.csv").write_text("source,participant_id,role\nInterview 9,P07,gp\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv: source\(s\) 'Interview 9' are not sources of"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_qdpx(_nvivo(tmp_path), participants=tmp_path / "bad.csv")


def test_real_atlas_export_coders_unit_and_passages():
    project = read_qdpx(reference_file("real_inputs/refi_qda/atlasti-8.4_refi-standard-project.qdpx"))
    # No source text in the archive, so no span can tell the units apart: code points, no warning.
    assert project.position_unit == "codepoint"
    assert project.codings["coder"].nunique() == 1 and (project.codings["coder"] != "").all()
    # 14 codings on 11 quotations; every coded quotation has its own span, so passages = quotations.
    spans = project.selections.dropna(subset=["start"])
    assert len(spans) == len(spans.drop_duplicates(["source_guid", "start", "end"])) == 8


# ------------------------------------------------------------------------------------------ QualCoder CSV report

def _qualcoder(tmp_path, by_case=False):
    """SYNTHETIC coding report laid out as QualCoder's writer lays it out: ``DialogReportCodes.export_csv_file`` in
    ``src/qualcoder/report_codes.py`` (github.com/ccbogel/QualCoder, commit
    06db5fabd264bff558245c9596a054e279d7a668): ``encoding='utf-8-sig'`` (BOM), ``csv.QUOTE_ALL``, the csv module's
    CRLF row ends; header ``File|Case[, Filename], Coder, Coded, Id, Codename, Coded_Memo``, ``Category`` x the
    deepest code's number of ancestors, then ``FileVar_*`` (and, by case only, ``CaseVar_*``) sorted by name. Each
    row holds only its own code's categories, leaf to root (``categories_of_code``), with the variables right after
    them, so rows are of different lengths; an image coding has ``Coded`` "image" and ``Id`` ``imid:<n>``."""
    head = ["Case", "Filename"] if by_case else ["File"]
    variables = ["FileVar_role", "FileVar_setting"] + (["CaseVar_role"] if by_case else [])
    rows = [head + ["Coder", "Coded", "Id", "Codename", "Coded_Memo", "Category", "Category"] + variables]

    def row(case, file, coder, text, cid, code, memo, categories, site):
        values = ["", site, "gp"] if by_case else ["gp", site]
        return ([case, file] if by_case else [file]) + [coder, text, cid, code, memo, *categories, *values]
    rows += [row("P01", "int1.txt", "ann", "We wait weeks.", "ctid:1", "Waiting", "Seen twice.\nCheck again.",
                 ["Delay", "Access"], "urban"),  # Waiting is in category Delay, itself in Access
             row("P01", "int1.txt", "ann", "We wait weeks.", "ctid:2", "Demand", "", ["Access"], "urban"),
             row("P01", "int1.txt", "bob", "We wait weeks.", "ctid:3", "Waiting", "", ["Delay", "Access"], "urban"),
             row("P02", "int2.txt", "ann", "Staff are kind.", "ctid:4", "Kindness", "", ["Staff"], "rural"),
             row("P02", "photo.png", "ann", "image", "imid:7", "Kindness", "", ["Staff"], "rural")]
    text = "\r\n".join(",".join('"' + c.replace('"', '""') + '"' for c in r) for r in rows) + "\r\n"
    path = tmp_path / "coding_report.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("by_case", [False, True])
def test_qualcoder_coding_report(tmp_path, by_case):
    path = _qualcoder(tmp_path, by_case)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 6  # BOM, CRLF rows; the memo's newline is LF
    lengths = {len(r) for r in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))} - {12 if by_case else 10}
    assert lengths == {11 if by_case else 9}  # besides the header's length: rows with one category are shorter
    with pytest.warns(UserWarning, match=r"coding_report.csv: 1 coding\(s\) of images or audio/video"):
        data = load_qualcoder_csv(path)
    # Categories read leaf to root: Waiting's row says "Delay", "Access", so Access is the theme.
    assert data.codebook[["theme", "code"]].values.tolist() == [
        ["Access", "Delay::Waiting"], ["Access", "Demand"], ["Staff", "Kindness"]]
    assert sorted(data.segments["text"]) == ["Staff are kind.", "We wait weeks."]
    # 4 text rows, 2 passages, 3 distinct passage-code pairs, 4 codings by 2 coders; the image row is left out.
    assert (len(data.segments), len(data.codings), len(data.coder_codings)) == (2, 3, 4)
    assert data.coders == ["ann", "bob"]
    assert data.coder_codings["memo"].tolist()[0] == "Seen twice.\nCheck again."  # embedded newline intact
    matrix = S.co_occurrence(data)
    assert matrix.loc["Delay::Waiting", "Demand"] == 1 and matrix.loc["Kindness", "Demand"] == 0
    summary = S.theme_summary(data)
    assert summary.set_index("code").loc["Delay::Waiting", ["n_segments", "n_codings"]].tolist() == [1, 2]
    # The variables are read from where each row has them (after 1 or 2 categories), not from the header's place.
    assert data.participants["role"].tolist() == ["gp", "gp"]
    assert data.participants["setting"].tolist() == ["urban", "rural"]
    assert data.participants["participant_id"].tolist() == ["P01", "P02"]
    assert "2 coded segments carrying 4 codings (3 distinct passage-code pairs, by 2 coders)" in \
        show.overview_sentence(data)


def test_qualcoder_row_longer_than_the_header_is_refused(tmp_path):
    path = _qualcoder(tmp_path)
    lines = path.read_bytes().split(b"\r\n")
    lines[1] = lines[1] + b',"extra","cell"'
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(InputError, match=r"coding_report.csv: line 2: 12 cells, but the header has 6 columns "
                                         r"before the categories, 2 Category and 2 variable column\(s\)"):
        load_qualcoder_csv(path)


def test_qualcoder_report_refused_when_not_one(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("source,text\na,b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"other.csv: missing column\(s\) 'Coder', 'Coded', 'Id', 'Codename', "
                                         r"'File'; is this QualCoder's coding report"):
        load_qualcoder_csv(path)


# ------------------------------------------------------------- the writer's output in each tool's convention

def _rewrite(path, out, convention: str):
    """The writer's ``.qdpx`` rewritten as another tool writes a REFI-QDA project (SYNTHETIC content):

    - ``atlas``: ``Project.qde`` and ``Sources/`` (as the real ATLAS.ti 8.4 export), codes flat with the hierarchy
      in their names (``Theme::Code``), origin "ATLAS.ti 8.4.0";
    - ``maxqda``: lower-case ``sources/`` with the files named in upper case by ``internal://`` (resolved whatever
      the case), origin "MAXQDA 24";
    - ``nvivo``: written with ``target="nvivo"`` (one selection per code, UTF-16 units), origin "NVivo 12
      (Windows)" (no declaration: the unit is the tool's, checked on the text).
    """
    q = "{urn:QDA-XML:project:1.0}"
    ET.register_namespace("", "urn:QDA-XML:project:1.0")
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("project.qde"))
        files = {n: archive.read(n) for n in archive.namelist() if n != "project.qde"}
    root.set("origin", {"atlas": "ATLAS.ti 8.4.0", "maxqda": "MAXQDA 24", "nvivo": "NVivo 12 (Windows)"}[convention])
    member, folder = "project.qde", "sources"
    if convention == "atlas":
        member, folder = "Project.qde", "Sources"
        codes = root.find(f"{q}CodeBook/{q}Codes")
        for theme in list(codes):
            for code in theme.findall(f"{q}Code"):
                theme.remove(code)
                code.set("name", f"{theme.get('name')}::{code.get('name')}")
                codes.append(code)
    if convention == "maxqda":
        for source in root.iter(f"{q}TextSource"):
            source.set("plainTextPath", source.get("plainTextPath").replace(".txt", ".TXT"))
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(member, ET.tostring(root, encoding="unicode"))
        for name, blob in files.items():
            archive.writestr(name.replace("sources/", f"{folder}/"), blob)
    return out


@pytest.mark.parametrize("convention", ["atlas", "maxqda", "nvivo"])
def test_writer_output_read_back_in_each_tools_convention(tmp_path, convention):
    data = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    written = to_qdpx(data, tmp_path / "out.qdpx", target="nvivo" if convention == "nvivo" else "refi")
    path = _rewrite(written, tmp_path / f"{convention}.qdpx", convention)
    project = read_qdpx(path)
    assert project.member == ("Project.qde" if convention == "atlas" else "project.qde")
    assert project.position_unit == ("utf16" if convention == "nvivo" else "codepoint")
    if convention == "atlas":
        assert project.codes["parent_guid"].isna().all()  # flat, hierarchy only in the names
    back = load_qdpx(path)
    assert (len(back.segments), len(back.codings), back.coders) == (43, 57, ["Coder A"])
    for summary in (S.theme_summary, S.framework_matrix, S.exemplar_quotes, S.co_occurrence, S.saturation_curve,
                    S.theme_by_deprivation):
        pdt.assert_frame_equal(summary(back), summary(data), obj=f"{convention}: {summary.__name__}")
    assert show.overview_sentence(back) == show.overview_sentence(data)


def _qualcoder_report_of(data, path):
    """The coding report QualCoder would export for ``data`` by case, with variables (layout as in
    :func:`_qualcoder`): one row per coding, the code's category (its theme) as the only Category cell, the case's
    attributes as ``CaseVar_`` columns sorted by name. SYNTHETIC: built here from the study's own data."""
    people = data.participants.set_index("participant_id")
    attributes = sorted(["collection_order", "imd_quintile", "method", "role", "setting"])
    rows = [["Case", "Filename", "Coder", "Coded", "Id", "Codename", "Coded_Memo", "Category",
             *[f"CaseVar_{a}" for a in attributes]]]
    theme_of = dict(zip(data.codebook["code"], data.codebook["theme"]))
    coded = data.coder_codings.merge(data.segments, on="segment_id")
    for k, r in enumerate(coded.to_dict("records"), start=1):
        person = people.loc[r["participant_id"]]
        values = ["" if pd.isna(person[a]) else str(person[a]) for a in attributes]
        rows.append([r["participant_id"], f"{r['source']}.txt", r["coder"], r["text"], f"ctid:{k}", r["code"], "",
                     theme_of[r["code"]], *values])
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    return path


def test_qualcoder_report_of_the_synthetic_project_gives_the_same_counts(tmp_path):
    """QualCoder's report holds no positions and no definitions, and its codebook is ordered by category: the
    counts per code, the co-occurrence cells and the saturation curve are the same as the CSV route's."""
    data = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    back = load_qualcoder_csv(_qualcoder_report_of(data, tmp_path / "report.csv"))
    assert back.participants_from == "cases" and back.coders == ["Coder A"]
    assert (len(back.segments), len(back.codings)) == (43, 57)
    counts = ["theme", "code", "n_participants", "n_segments"]
    mine = S.theme_summary(data)[counts].sort_values(["theme", "code"], ignore_index=True)
    theirs = S.theme_summary(back)[counts].sort_values(["theme", "code"], ignore_index=True)
    pdt.assert_frame_equal(theirs, mine)
    order = list(data.codebook["code"])
    pdt.assert_frame_equal(S.co_occurrence(back).loc[order, order], S.co_occurrence(data))
    pdt.assert_frame_equal(S.saturation_curve(back).drop(columns="new_code_names"),
                           S.saturation_curve(data).drop(columns="new_code_names"))
