"""REFI-QDA: the real ATLAS.ti export read as written, schema conformance of what we write, round trips, errors.

The schema check is a small validator of the XSD subset Project.xsd uses (sequences, choices, occurrence bounds,
required and typed attributes), run against the shipped schema: lxml is not a dependency of the compendium.
It is first shown to accept the real ATLAS.ti export, which PROVENANCE.md says validates with lxml.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile

import pandas.testing as pdt
import pytest

from beyond_averages import paths
from beyond_averages.files import InputError
from beyond_averages.qual import load_csv_project, load_qdpx, read_qdpx, refi_to_qual_data, to_qdpx
from beyond_averages.qual import summaries as S
from beyond_averages.report import qualitative as show
from reference import reference_file

# The REFI schema and a real ATLAS.ti export come from the reference folder (tests/reference.py); the tests that
# need them skip by name when it is absent.
SCHEMA = "real_inputs/refi_qda/Project.xsd"
ATLAS = "real_inputs/refi_qda/atlasti-8.4_refi-standard-project.qdpx"
XS = "{http://www.w3.org/2001/XMLSchema}"
NS = "{urn:QDA-XML:project:1.0}"


# ------------------------------------------------------------------------------------- a small XSD-subset validator

class Schema:
    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.types = {t.get("name"): t for t in root.findall(f"{XS}complexType")}
        self.simple = {t.get("name"): t for t in root.findall(f"{XS}simpleType")}
        self.root = {e.get("name"): e.get("type") for e in root.findall(f"{XS}element")}

    def _particles(self, group):
        """(regex over 'Name,' tokens, {element name: type}) for a sequence or choice."""
        parts, types = [], {}
        for item in group:
            tag = item.tag.replace(XS, "")
            low, high = item.get("minOccurs", "1"), item.get("maxOccurs", "1")
            bound = "{%s,%s}" % (low, "" if high == "unbounded" else high)
            if tag == "element":
                types[item.get("name")] = item.get("type")
                parts.append(f"(?:{re.escape(item.get('name'))},){bound}")
            elif tag in ("sequence", "choice"):
                inner, inner_types = self._particles(item)
                types.update(inner_types)
                joined = "|".join(inner) if tag == "choice" else "".join(inner)
                parts.append(f"(?:{joined}){bound}")
        return parts, types

    def _check_simple(self, type_name, value, where):
        if type_name in ("xsd:integer",):
            assert re.fullmatch(r"-?\d+", value), f"{where}: {value!r} is not an integer"
        elif type_name == "xsd:boolean":
            assert value in ("true", "false", "1", "0"), f"{where}: {value!r} is not a boolean"
        elif type_name in self.simple:
            restriction = self.simple[type_name].find(f"{XS}restriction")
            pattern = restriction.find(f"{XS}pattern")
            enum = [e.get("value") for e in restriction.findall(f"{XS}enumeration")]
            if pattern is not None:
                assert re.fullmatch(pattern.get("value"), value), f"{where}: {value!r} breaks {type_name}"
            if enum:
                assert value in enum, f"{where}: {value!r} not in {enum}"

    def validate(self, element, type_name=None, where="Project"):
        type_name = type_name or self.root[element.tag.replace(NS, "")]
        if type_name.startswith("xsd:"):
            assert len(element) == 0, f"{where}: simple content has children"
            if element.text is not None:
                self._check_simple(type_name, element.text, where)
            return
        ctype = self.types[type_name]
        declared = {a.get("name"): a for a in ctype.findall(f"{XS}attribute")}
        for name, attr in declared.items():
            if attr.get("use") == "required":
                assert name in element.attrib, f"{where}: missing required attribute {name}"
        for name, value in element.attrib.items():
            if name.startswith("{"):
                continue  # xsi:schemaLocation
            assert name in declared, f"{where}: undeclared attribute {name}"
            self._check_simple(declared[name].get("type"), value, f"{where}@{name}")
        group = ctype.find(f"{XS}sequence")
        if group is None:
            group = ctype.find(f"{XS}choice")
        children = [c.tag.replace(NS, "") for c in element]
        assert all(c.tag.startswith(NS) for c in element), f"{where}: child outside the REFI namespace"
        if group is None:
            assert not children, f"{where}: {type_name} takes no children"
            return
        parts, types = self._particles([group])
        sequence = "".join(f"{c}," for c in children)
        assert re.fullmatch("".join(parts), sequence), f"{where}: children {children} break {type_name}"
        for child in element:
            name = child.tag.replace(NS, "")
            self.validate(child, types[name], f"{where}/{name}")


@pytest.fixture(scope="module")
def schema():
    return Schema(reference_file(SCHEMA))


@pytest.fixture(scope="module")
def atlas():
    return reference_file(ATLAS)


def _project_xml(path):
    with zipfile.ZipFile(path) as archive:
        member = next(n for n in archive.namelist() if n.lower().endswith("project.qde"))
        return ET.fromstring(archive.read(member))


def test_validator_accepts_the_real_export_and_rejects_breakage(schema, atlas):
    schema.validate(_project_xml(atlas))
    broken = _project_xml(atlas)
    codes = broken.find(f"{NS}CodeBook/{NS}Codes")
    codes.remove(codes[0]) or codes.insert(0, ET.Element(f"{NS}Code", {"name": "x", "isCodable": "true"}))
    with pytest.raises(AssertionError, match="missing required attribute guid"):
        schema.validate(broken)
    reordered = _project_xml(atlas)
    users = reordered.find(f"{NS}Users")
    reordered.remove(users)
    reordered.append(users)
    with pytest.raises(AssertionError, match="break ProjectType"):
        schema.validate(reordered)


# ---------------------------------------------------------------------------------------------- the real export

def test_real_atlas_export_read_as_written(atlas):
    project = read_qdpx(atlas)
    assert project.member == "Project.qde"  # capital P, not the spec's project.qde
    assert project.name == "ATLAS.ti standard project" and project.origin.startswith("ATLAS.ti 8.4.0")
    # Codes: 14, all top-level in the XML; hierarchy written into two names with '::'.
    assert len(project.codes) == 14 and project.codes["parent_guid"].isna().all()
    assert (project.codes["description"] != "").sum() == 7
    paths_ = dict(zip(project.codes["name"], project.codes["path"]))
    assert paths_["Coke::diet Coke"] == ("Coke", "diet Coke") and paths_["Coke"] == ("Coke",)
    assert dict(zip(project.codes["name"], project.codes["description"]))["Coke::diet Coke"] == "non sucré"
    # Sources: 12, of which no file is in the archive (empty Sources/ folder) and media paths are relative://.
    assert project.sources["kind"].value_counts().to_dict() == {
        "TextSource": 6, "VideoSource": 2, "PDFSource": 2, "PictureSource": 1, "AudioSource": 1}
    assert (project.sources["text_origin"] == "missing").all() and project.texts == {}
    assert project.sources["path"].str.startswith("relative://").sum() == 3
    # Selections: 15 elements, 13 GUIDs (two PDF quotations are written twice, as PDFSelection and as a
    # PlainTextSelection in the PDF's text representation, under one GUID).
    assert len(project.selections) == 13
    assert project.selections["kind"].value_counts().to_dict() == {
        "PlainTextSelection": 8, "VideoSelection": 2, "PDFSelection": 2, "PictureSelection": 1}
    sel = project.selections.set_index("guid")
    granola = sel.loc["27A5F0C2-E225-4D6A-8297-F4FEC794D890"]
    assert (granola["kind"], granola["start"], granola["end"], granola["text"], granola["text_origin"]) == (
        "PlainTextSelection", 62, 69, "granola", "inline")
    favoritos = sel.loc["95916796-D0A0-4B49-80B0-5A5C8B94AE13"]
    assert (favoritos["start"], favoritos["end"]) == (297, 498)
    assert favoritos["text"] == "favoritos.Dificultad: MediaTiempo: 2 horas 30 minutos "
    # Text held only in representations: 3 selections have inline text (3 of the 4 PDFSelections carry one; two
    # of those are the merged quotations), the other 10 none at all.
    assert (project.selections["text_origin"] == "inline").sum() == 3
    page1 = sel.loc["7B8C9A7D-1AD6-4A88-8556-50B9A35FDA19", "text"]
    assert len(page1) == 135 and len(page1.encode("utf-8")) == 139  # ’ ® á: code points, not bytes
    # Codings: 16 Coding elements in the file; the two quotations written twice carry the same code twice, so
    # 14 distinct (selection, code) pairs on 11 coded selections, using 9 distinct codes.
    assert len(project.codings) == 14 and project.codings["code_guid"].nunique() == 9
    assert project.codings["selection_guid"].nunique() == 11
    assert project.codings.groupby("selection_guid").size().max() == 3  # Mabel.txt: three codes on one quotation
    assert project.cases.empty and len(project.sets) == 16  # document attributes are Sets ("gender: male")
    assert project.sets.set_index("name").loc["gender: male", "n_sources"] == 1


def test_real_export_cannot_become_study_data_and_says_why(atlas):
    with pytest.raises(InputError, match=r"atlasti-8.4_refi-standard-project.qdpx: code 'happiness' has no theme; "
                                         r"place it under a theme code \(nested, or named 'Theme::Code'\)"):
        refi_to_qual_data(read_qdpx(atlas))


# ------------------------------------------------------------------------------------------- writing and reading

def test_to_qdpx_conforms_to_schema_and_is_byte_stable(schema, tmp_path):
    data = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    first = to_qdpx(data, tmp_path / "a.qdpx")
    schema.validate(_project_xml(first))
    second = to_qdpx(data, tmp_path / "b.qdpx")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
    assert names[0] == "project.qde" and len(names) == 11 and all(n.startswith("sources/") for n in names[1:])
    project = read_qdpx(first)
    assert (len(project.codes), len(project.cases), len(project.sources), len(project.selections)) == (23, 13, 10, 43)
    assert (project.codes["parent_guid"].isna()).sum() == 6  # the themes
    assert len(project.case_members.query("kind == 'selection'")) == 8 + 5  # focus group and case study
    assert set(project.case_variables["variable"]) == {"role", "setting", "imd_quintile", "method",
                                                       "collection_order"}


def test_synthetic_round_trip_matches_csv_route(tmp_path):
    csv_route = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    qdpx_route = load_qdpx(to_qdpx(csv_route, tmp_path / "synthetic.qdpx"))
    for summary in (S.theme_summary, S.framework_matrix, S.exemplar_quotes, S.co_occurrence, S.saturation_curve,
                    S.theme_by_deprivation):
        pdt.assert_frame_equal(summary(csv_route), summary(qdpx_route), obj=summary.__name__)
    assert show.overview_sentence(csv_route) == show.overview_sentence(qdpx_route)


def test_positions_without_transcripts_are_laid_out(tmp_path):
    data = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    bare = type(data)(data.codebook, data.participants, data.segments, data.codings, {}, "bare")
    back = load_qdpx(to_qdpx(bare, tmp_path / "bare.qdpx"))
    pdt.assert_frame_equal(S.framework_matrix(bare), S.framework_matrix(back))
    s1 = back.segments.set_index("text").loc[data.segments["text"][0]]
    assert (s1["start"], s1["end"]) == (data.segments["start"][0], data.segments["end"][0])


def _qdpx(tmp_path, xml: str, files=None, name="project.qde"):
    path = tmp_path / "x.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, xml)
        for member, text in (files or {}).items():
            archive.writestr(member, text)
    return path


G = "00000000-0000-0000-0000-0000000000{:02d}"


def _minimal(code_ref=G.format(2), cases=True, selection='startPosition="4" endPosition="9"', extra_source=""):
    case = (f'<Variables><Variable guid="{G.format(20)}" name="role" typeOfVariable="Text"/>'
            f'<Variable guid="{G.format(21)}" name="method" typeOfVariable="Text"/>'
            f'<Variable guid="{G.format(22)}" name="collection_order" typeOfVariable="Integer"/>'
            f'<Variable guid="{G.format(23)}" name="Real_Name" typeOfVariable="Text"/></Variables>'
            f'<Cases><Case guid="{G.format(10)}" name="P01">'
            f'<VariableValue><VariableRef targetGUID="{G.format(20)}"/><TextValue>GP</TextValue></VariableValue>'
            f'<VariableValue><VariableRef targetGUID="{G.format(21)}"/><TextValue>interview</TextValue></VariableValue>'
            f'<VariableValue><VariableRef targetGUID="{G.format(22)}"/><IntegerValue>1</IntegerValue></VariableValue>'
            f'<VariableValue><VariableRef targetGUID="{G.format(23)}"/>'
            f'<TextValue>Zebedee Wimble</TextValue></VariableValue>'
            f'<SourceRef targetGUID="{G.format(30)}"/></Case></Cases>') if cases else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="t">'
            f'<CodeBook><Codes><Code guid="{G.format(1)}" name="Theme" isCodable="false"><Description>t</Description>'
            f'<Code guid="{G.format(2)}" name="code" isCodable="true"><Description>d</Description></Code></Code>'
            f'</Codes></CodeBook>{case}<Sources>'
            f'<TextSource guid="{G.format(30)}" name="doc" plainTextPath="internal://{G.format(30)}.txt">'
            f'<PlainTextSelection guid="{G.format(40)}" {selection}><Coding guid="{G.format(50)}">'
            f'<CodeRef targetGUID="{code_ref}"/></Coding></PlainTextSelection></TextSource>{extra_source}'
            f'</Sources></Project>')


def test_minimal_project_hand_written(tmp_path):
    # File names in other case (SOURCES/, upper-case GUID file), a BOM, and a real name as a case variable.
    text = "\ufeffHi, Wimble here."  # BOM dropped: "Wimble" is at code points 4..10
    path = _qdpx(tmp_path, _minimal(selection='startPosition="4" endPosition="16"'),
                 {f"SOURCES/{G.format(30).upper()}.TXT".replace(".TXT", ".txt"): text.encode("utf-8")},
                 name="Project.QDE")
    data = load_qdpx(path)
    assert data.segments["text"].tolist() == ["[P01] here."]
    assert data.participants["role"].tolist() == ["gp"] and "real_name" not in data.participants.columns
    assert data.documents == {"doc": "Hi, [P01] here."}


@pytest.mark.parametrize("build, message", [
    (lambda t: t / "absent.qdpx", r"absent.qdpx: file not found"),
    (lambda t: (t / "n.qdpx").write_text("plain") and t / "n.qdpx", r"not a zip archive; a .qdpx file is a zip"),
    (lambda t: _qdpx(t, "<x/>", name="other.xml"), r"no project.qde inside \(members: other.xml\)"),
    (lambda t: _qdpx(t, "<Project"), r"project.qde is not well-formed XML"),
    (lambda t: _qdpx(t, "<Project name='t'/>"), r"has root 'Project'; expected Project in namespace"),
    (lambda t: _qdpx(t, _minimal(code_ref=G.format(9))),
     r"selection 00000000-0000-0000-0000-000000000040 is coded with code GUID "
     r"00000000-0000-0000-0000-000000000009, which is not in the CodeBook"),
    (lambda t: _qdpx(t, _minimal()), r"selection 00000000-0000-0000-0000-000000000040 \(PlainTextSelection '' in "
                                     r"'doc'\) is coded but has no readable text \(text_origin missing\)"),
    (lambda t: _qdpx(t, _minimal(), {f"sources/{G.format(30)}.txt": "short"}),
     r"selection .*40 \[4:9\] lies outside source 'doc' \(5 characters\)"),
    (lambda t: _qdpx(t, _minimal(code_ref=G.format(1)), {f"sources/{G.format(30)}.txt": "0123456789"}),
     r"is coded with theme 'Theme'; code with the codes under a theme"),
])
def test_qdpx_errors(tmp_path, build, message):
    with pytest.raises(InputError, match=message):
        load_qdpx(build(tmp_path))


def test_non_text_selections_can_be_skipped(tmp_path):
    path = _qdpx(tmp_path, _minimal(extra_source=(
        f'<PictureSource guid="{G.format(31)}" name="photo.jpg" path="internal://x.jpg">'
        f'<PictureSelection guid="{G.format(41)}" firstX="0" firstY="0" secondX="1" secondY="1">'
        f'<Coding guid="{G.format(51)}"><CodeRef targetGUID="{G.format(2)}"/></Coding></PictureSelection>'
        f'</PictureSource>')), {f"sources/{G.format(30)}.txt": "0123456789"})
    with pytest.raises(InputError, match=r"PictureSelection '' in 'photo.jpg'\) is coded but has no readable text"):
        load_qdpx(path)
    data = load_qdpx(path, non_text="skip")
    assert data.segments["text"].tolist() == ["45678"] and len(data.codings) == 1


def _stored_zip_with_bad_crc(tmp_path):
    """A .qdpx whose project.qde is stored uncompressed, then one byte of it flipped: the zip's CRC check fails."""
    path = _qdpx(tmp_path, _minimal())
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("project.qde", _minimal())
    blob = bytearray(path.read_bytes())
    at = blob.index(b"<CodeBook>") + 1
    blob[at] ^= 0x01
    path.write_bytes(bytes(blob))
    return path


def _cut_zip(tmp_path):
    path = _qdpx(tmp_path, _minimal())
    path.write_bytes(path.read_bytes()[:60])
    return path


# One list per reader: (how to build the bad file, the message; each names the file and the element, attribute,
# member or line at fault).
# Run by the project's bad-input suite (tests/test_bad_inputs.py), with the other readers' cases.
MALFORMED_QDPX = [
    (lambda t: _qdpx(t, _minimal(selection='endPosition="9"')),
     r"x.qdpx \(project.qde\): element PlainTextSelection 00000000-0000-0000-0000-000000000040 has no attribute "
     r"'startPosition'"),
    (lambda t: _qdpx(t, _minimal(selection='startPosition="4"')),
     r"x.qdpx \(project.qde\): element PlainTextSelection .*40 has no attribute 'endPosition'"),
    (lambda t: _qdpx(t, _minimal(selection='startPosition="four" endPosition="9"')),
     r"x.qdpx \(project.qde\): element PlainTextSelection .*40, attribute 'startPosition': 'four' is not a whole "
     r"number"),
    (lambda t: _qdpx(t, _minimal().replace(f'<PlainTextSelection guid="{G.format(40)}"', "<PlainTextSelection")),
     r"x.qdpx \(project.qde\): element PlainTextSelection without a guid has no attribute 'guid'"),
    (lambda t: _qdpx(t, _minimal().replace(f'<Code guid="{G.format(2)}" ', "<Code ")),
     r"x.qdpx \(project.qde\): element Code code has no attribute 'guid'"),
    (lambda t: _qdpx(t, _minimal().replace(f'<CodeRef targetGUID="{G.format(2)}"/>', "")),
     r"x.qdpx \(project.qde\): element Coding .*50 has no CodeRef"),
    (lambda t: _qdpx(t, _minimal().replace(f'<CodeRef targetGUID="{G.format(2)}"/>', "<CodeRef/>")),
     r"x.qdpx \(project.qde\): element CodeRef without a guid has no attribute 'targetGUID'"),
    (lambda t: _qdpx(t, _minimal()[:300]), r"x.qdpx: project.qde is not well-formed XML: line 1, column \d+: "),
    (lambda t: _qdpx(t, _minimal().replace("<Sources>", "<Sources>\n<Oops>", 1)),
     r"x.qdpx: project.qde is not well-formed XML: line 2, column \d+: mismatched tag"),
    (_cut_zip, r"x.qdpx: not a zip archive; a .qdpx file is a zip"),
    (_stored_zip_with_bad_crc, r"x.qdpx: member project.qde cannot be read \(Bad CRC-32"),
    (lambda t: _qdpx(t, _minimal(), {f"sources/{G.format(30)}.txt": b"caf\xe9 0123456789"}),
     r"x.qdpx: sources/.*30.txt is not UTF-8 text"),
]


# ------------------------------------------------------------------------- the real export, passage by passage

def test_real_atlas_export_passages_and_codings(atlas):
    project = read_qdpx(atlas)
    source = dict(zip(project.sources["guid"], project.sources["name"]))
    code = dict(zip(project.codes["guid"], project.codes["name"]))
    # Names with accents are decomposed (NFD, as macOS writes them): compare them in composed form.
    accented = [n for n in source.values() if not n.isascii()]
    assert len(accented) == 2 and all(unicodedata.is_normalized("NFD", n) and not unicodedata.is_normalized("NFC", n)
                                      for n in accented)
    text_sel = project.selections[project.selections["kind"] == "PlainTextSelection"].assign(
        source=lambda f: f["source_guid"].map(source).map(lambda n: unicodedata.normalize("NFC", n)))
    # 8 text quotations, no two on one span (ATLAS.ti writes one quotation with all its codes, unlike NVivo), so
    # 8 passages; 7 of them coded (the one in "Mabêl 2ième.txt" carries no code).
    assert len(text_sel) == len(text_sel.drop_duplicates(["source_guid", "start", "end"])) == 8
    coded = set(project.codings["selection_guid"])
    assert text_sel.loc[~text_sel["guid"].isin(coded), "source"].tolist() == ["Mabêl 2ième.txt"]
    assert text_sel["source"].value_counts().to_dict() == {
        "Simon.docx": 3, "Pay de Limón con Base de Granola | Kellogg's ®.pdf": 2,
        "1994 Diet Coke-Diet Coke Break.docx": 1, "Mabêl 2ième.txt": 1, "Mabel.txt": 1}
    # Simon.docx: quotation [688:907] lies inside [513:907], coded differently (nested quotations are separate).
    simon = text_sel[text_sel["source"] == "Simon.docx"].sort_values("start")
    assert simon[["start", "end"]].values.tolist() == [[215, 275], [513, 907], [688, 907]]
    # No source file is in the archive, so a quotation's text is only where ATLAS.ti names the quotation by it:
    # for these three the name's length is the span's (granola's inline text confirms the name is the text).
    by_span = {(r["source"], r["start"], r["end"]): r["name"] for r in text_sel.to_dict("records")}
    assert by_span[("1994 Diet Coke-Diet Coke Break.docx", 139, 195)] == \
        "Oh, that was great. See you tomorrow? Eleven thirty. Mm."
    assert by_span[("Simon.docx", 215, 275)] == "I did try the gluten free bread, but it was always so soggy,"
    assert len(by_span[("Simon.docx", 215, 275)]) == 275 - 215
    # Longer quotations are named by their first ~100 characters and an ellipsis: not the text.
    assert by_span[("Mabel.txt", 0, 410)].endswith("…") and len(by_span[("Mabel.txt", 0, 410)]) == 101
    # Codings per code (14 distinct selection-code pairs, 9 codes), and codes per coded selection.
    named = project.codings.assign(code=project.codings["code_guid"].map(code))
    assert named["code"].value_counts().sort_index().to_dict() == {
        '"rushed"': 1, "Coke::diet Coke": 1, "Feelings": 1, "bacon and eggs": 2, "cornflakes": 4, "happiness": 2,
        "milk": 1, "serene": 1, "waste of time": 1}
    per_sel = named.groupby("selection_guid")["code"].agg(lambda c: tuple(sorted(c)))
    mabel = text_sel.loc[text_sel["source"] == "Mabel.txt", "guid"].item()
    assert per_sel[mabel] == ("bacon and eggs", "cornflakes", "happiness")
    # Co-occurrence on one selection: the three pairs of Mabel.txt and cornflakes x milk on the picture.
    pairs = sorted(p for codes in per_sel for i, a in enumerate(codes) for p in [(a, b) for b in codes[i + 1:]])
    assert pairs == [("bacon and eggs", "cornflakes"), ("bacon and eggs", "happiness"), ("cornflakes", "happiness"),
                     ("cornflakes", "milk")]
    # The PDF quotation written twice under one GUID: the span counts 201 in the PDF's text representation, while
    # the inline text taken from its PDFSelection twin has 54 code points (the layout's breaks are gone).
    favoritos = project.selections.set_index("guid").loc["95916796-D0A0-4B49-80B0-5A5C8B94AE13"]
    assert (favoritos["end"] - favoritos["start"], len(favoritos["text"])) == (201, 54)


def test_nvivo_convention_conforms_to_schema(schema, tmp_path):
    data = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    root = _project_xml(to_qdpx(data, tmp_path / "nvivo.qdpx", target="nvivo"))
    schema.validate(root)
    assert len(root.findall(f".//{NS}PlainTextSelection")) == 57  # one per code: 57 codings on 43 passages


def test_real_atlas_pdf_quotations_keep_text_without_positions(atlas):
    """ATLAS.ti's PDF quotation written twice under one GUID counts its span (297..498, 201 units) in the PDF's text
    layer, while its text comes inline from the PDFSelection twin (54 code points): mapped to passages, positions
    must not be kept for it, or the span/text check would refuse the project. The export's codes are flat (no
    theme), so they are put under one theme here, in memory; the file is read as it is."""
    import dataclasses
    import warnings

    import pandas as pd

    project = read_qdpx(atlas)
    codes = project.codes.assign(parent_guid=project.codes["parent_guid"].fillna("THEME"),
                                 path=project.codes["path"].map(lambda p: ("Breakfast", *p)))
    theme = pd.DataFrame([{"guid": "THEME", "name": "Breakfast", "description": "", "parent_guid": None,
                           "path": ("Breakfast",), "is_codable": False}])
    themed = dataclasses.replace(project, codes=pd.concat([theme, codes], ignore_index=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 7 codes without description: asserted elsewhere
        data = refi_to_qual_data(themed, non_text="skip")
    segs = data.segments.set_index("segment_id")
    # The three coded quotations with readable text, all in the PDF; none has a position.
    assert len(segs) == 3 and segs["start"].isna().all() and segs["end"].isna().all()
    assert segs.loc["95916796-D0A0-4B49-80B0-5A5C8B94AE13", "text"] == \
        "favoritos.Dificultad: MediaTiempo: 2 horas 30 minutos "
    assert segs.loc["27A5F0C2-E225-4D6A-8297-F4FEC794D890", "text"] == "granola"
    assert len(segs.loc["7B8C9A7D-1AD6-4A88-8556-50B9A35FDA19", "text"]) == 135
    assert sorted(data.codings["code"]) == ["cornflakes", "cornflakes", "waste of time"]
    assert set(data.coder_codings["coder"]) == set(project.codings["coder"])  # ATLAS.ti's one user
