"""References: every real RIS/BibTeX export, Zotero-compatible keys, BibTeX output, and parse errors."""

from __future__ import annotations

import pytest

from beyond_averages.files import InputError
from beyond_averages.review.references import (Reference, latex_to_text, parse_bibtex, parse_ris, protect_case,
                                               read_references, to_bibtex, write_bibtex, zotero_key)
from reference import reference_file


def real(name: str):
    """A real export from the reference folder, or skip naming it (tests/reference.py)."""
    return reference_file(f"real_inputs/references/{name}")


def test_bib_and_ris_exports_of_one_library_give_the_same_records():
    bib = read_references(real("PublicHistoryTheses_zotero.bib"))
    ris = read_references(real("PublicHistoryTheses_zotero.ris"))
    assert len(bib) == len(ris) == 49
    # RIS carries no keys: ours are built the way Zotero built the .bib keys, and all 49 agree.
    assert [r.key for r in ris] == [b.key for b in bib]
    assert [(r.title, r.authors, r.year, r.entry_type) for r in ris] == [
        (b.title, b.authors, b.year, b.entry_type) for b in bib]
    assert sum(b.entry_type == "mastersthesis" for b in bib) == 2
    first = bib[0]
    assert first.key == "hartman_war_2017" and first.fields["type"] == "MRes Thesis"
    assert first.title.startswith('"In war... not everyone is a soldier"')


def test_three_managers_export_the_same_ten_records():
    keysets, doisets = [], []
    for name in ("zotero", "mendeley", "endnote"):
        refs = read_references(real(f"cff_baseline_{name}.ris"))
        assert len(refs) == 10 and all(r.entry_type == "article" for r in refs)
        keysets.append({r.key for r in refs})
        doisets.append({r.fields["doi"].lower() for r in refs})
    assert keysets[0] == keysets[1] == keysets[2]
    assert doisets[0] == doisets[1] == doisets[2]
    endnote = {r.key: r for r in read_references(real("cff_baseline_endnote.ris"))}
    assert endnote["boisvert_description_2024"].authors == ("Boisvert, C.", "Curtice, B.", "Wedel, M.", "Wilhite, R.")


def test_endnote_export_with_bom_and_continuation_lines():
    refs = read_references(real("reflib_blue-light_endnote.ris"))
    assert len(refs) == 102                                   # the BOM does not hide the first record
    assert sum(1 for r in refs if r.fields.get("doi")) == 72
    assert len({r.key for r in refs}) == 102
    first = refs[0]
    assert first.authors[0] == "Shahtalebi, M. A." and first.fields["doi"] == "10.4103/abr.abr_99_17"
    assert first.year == 2018


def test_ris_continuation_lines_join_or_split():
    text = "TY  - JOUR\nTI  - A long\ntitle here\nKW  - one\ntwo\nAU  - Doe, J\nPY  - 2020\nER  - \n"
    (ref,) = parse_ris(text)
    assert ref.title == "A long title here" and ref.key == "doe_long_2020"


@pytest.mark.parametrize("parse, text, message", [
    (parse_ris, "AU  - Doe, J\n", r"lib: line 1: tag 'AU' outside a record"),
    (parse_ris, "TY  - JOUR\nTI  - x\n", r"line 1: the record opened here is never closed with 'ER  - '"),
    (parse_ris, "TY  - JOUR\nTY  - JOUR\nER  - \n",
     r"line 2: a new record \(TY\) starts before the record opened at line 1"),
    (parse_ris, "hello\n", r"line 1: text outside a record"),
    (parse_ris, "", r"no RIS records found"),
    (parse_bibtex, "@article{a_2020,\n title = {x},\n}\n@article{a_2020,\n title = {y},\n}\n",
     r"lib: line 4: citation key 'a_2020' is used twice \(also line 1\)"),
    (parse_bibtex, "@article{,\n title = {x}}\n", r"line 1: entry '@article' has no citation key"),
    (parse_bibtex, "@article{k,\n title = {x\n", r"line 1: a '\{' in this entry is never closed"),
    (parse_bibtex, "@article{fig-one,\n title = {x}}\n", r"citation key 'fig-one' is not usable in Quarto"),
    (parse_bibtex, "no entries", r"no BibTeX entries found"),
])
def test_reference_errors_name_the_line(parse, text, message):
    with pytest.raises(InputError, match=message):
        parse(text, "lib")


def test_bibtex_strings_quotes_and_accents():
    text = ('@string{jcp = "J Clin Prim"}\n'
            '@article{k1, author = {M{\\"u}ller, A. and O\'Neill, B}, title = "{PDSA} and {\\&} more",'
            ' journal = jcp, year = 2019}\n')
    (ref,) = parse_bibtex(text)
    assert ref.authors == ("Müller, A.", "O'Neill, B")
    assert ref.title == "PDSA and & more" and ref.fields["journal"] == "J Clin Prim" and ref.year == 2019
    assert latex_to_text("{\\'e}t{\\'e} caf\\'e") == "été café"


def test_bibtex_output_round_trips_and_is_stable(tmp_path):
    refs = read_references(real("cff_baseline_zotero.ris"))
    path = write_bibtex(refs, tmp_path / "out.bib")
    again = read_references(path)
    assert [(r.key, r.title, r.authors, r.year) for r in again] == sorted(
        [(r.key, r.title, r.authors, r.year) for r in refs])
    assert to_bibtex(again) == path.read_text(encoding="utf-8")
    assert "@article{boisvert_description_2024,\n  author = {Boisvert, C. and Curtice, B." in path.read_text()


def test_writer_protects_acronyms_in_titles():
    assert protect_case("PDSA cycles, RoB 2 and HbA1c in the NHS: a COVID-19 study") == (
        "{PDSA} cycles, {RoB} 2 and {HbA1c} in the {NHS}: a {COVID}-19 study")
    assert protect_case("Type 2 diabetes in England") == "Type 2 diabetes in England"   # single capitals left alone
    ref = Reference("k_2020", "article", "{Pdsa} & NHS audit", ("Doe, J.",), 2020,
                    {"journal": "BMJ Quality & Safety"})
    text = to_bibtex([ref])
    # Stray braces in the plain-text title are dropped; only the writer's protection remains. Journals are not
    # title-cased by styles, so they are escaped but not braced.
    assert "  title = {Pdsa \\& {NHS} audit},\n  journal = {BMJ Quality \\& Safety}," in text
    assert parse_bibtex(text)[0].title == "Pdsa & NHS audit"


def test_zotero_key_rules():
    assert zotero_key("Free", "Free-to-air: a history", 2014) == "free_free--air_2014"
    assert zotero_key("van Heekeren", "The dissemination", 2012) == "van_heekeren_dissemination_2012"
    assert zotero_key("", "", None) == "noauthor_notitle_nodate"


def test_unknown_extension_and_encoding(tmp_path):
    with pytest.raises(InputError, match="unknown reference format '.xml'"):
        read_references(tmp_path.joinpath("x.xml")) if tmp_path.joinpath("x.xml").write_text("x") else None
    bad = tmp_path / "x.ris"
    bad.write_bytes(b"TY  - JOUR\nTI  - caf\xe9\nER  - \n")
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_references(bad)


# -- malformed library files: the error names the file and the line -------------------------------------------
GOOD_BIB = "@article{doe_trial_2020,\n  author = {Doe, J.},\n  title = {A trial},\n  year = {2020},\n}\n"
GOOD_RIS = "TY  - JOUR\nAU  - Doe, J.\nTI  - A trial\nPY  - 2020\nER  - \n"
# Run by the project's bad-input suite (tests/test_bad_inputs.py), with the other readers' cases.
MALFORMED_LIBRARIES = [
    ("lib.bib", GOOD_BIB[:GOOD_BIB.index("{A trial")], r"line 1: the file ends after 'field =' in this entry"),
    ("lib.bib", GOOD_BIB[:GOOD_BIB.index(" trial")], r"line 1: a '\{' in this entry is never closed"),
    ("lib.bib", GOOD_BIB + GOOD_BIB.replace("{A trial}", "{Again}"),
     r"line 6: citation key 'doe_trial_2020' is used twice \(also line 1\)"),
    ("lib.bib", "", r"no BibTeX entries found"),
    ("lib.bib", "@article{k1,\n  title = {x},\n  year 2020\n}\n", r"line 3: expected 'field = value'"),
    ("lib.ris", GOOD_RIS[:-len("ER  - \n")], r"line 1: the record opened here is never closed with 'ER  - '"),
    ("lib.ris", "", r"no RIS records found"),
    ("lib.ris", GOOD_RIS + "TI  - stray\n", r"line 6: tag 'TI' outside a record"),
    ("lib.ris", GOOD_RIS.encode("utf-8") + b"TY  - JOUR\nTI  - caf\xe9\nER  - \n", r"not UTF-8 text \(byte 77\)"),
]


def test_references_command_line_one_line_error_and_untouched_output(tmp_path):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "beyond_averages.review", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)

    (tmp_path / "lib.bib").write_text(GOOD_BIB[:GOOD_BIB.index(" trial")], encoding="utf-8")
    (tmp_path / "out.bib").write_text("old\n", encoding="utf-8")
    result = run("lib.bib", "out.bib")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"error: {tmp_path / 'lib.bib'}: line 1: a '{{' in this entry is never closed\n"
    assert (tmp_path / "out.bib").read_text(encoding="utf-8") == "old\n"
    debug = run("lib.bib", "out.bib", "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    (tmp_path / "lib.ris").write_text(GOOD_RIS, encoding="utf-8")
    result = run("lib.ris", "out.bib")   # relative paths from the working directory
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.bib").read_text(encoding="utf-8").startswith("@article{doe_trial_2020,\n  author = {Doe")
