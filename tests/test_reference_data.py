"""The reference-data setting (tests/reference.py): where the files are looked for, skips that name the dataset, the
registry, and the downloader (tested offline with file:// URLs, which go through the same code as https://)."""

from __future__ import annotations

import hashlib
import re

import pytest

import reference
from beyond_averages.files import InputError
from reference import ENV_VAR, Converter, download, fetch_one, load_registry, main, reference_dir, reference_file

CONVERTED = {"reference_data/phe_sii/SII_testdata.csv": "xlsx-to-csv",
             "reference_data/mpdta_did/mpdta.csv": "rda-to-csv",
             "reference_data/prop99_cigsales/smoking_prop99.csv": "rda-to-csv"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


RAW, UPPER = b"a,b\n1,2\n", b"A,B\n1,2\n"   # the tiny source file and what the stand-in converter makes of it


def write_registry(folder, *entries: str):
    path = folder / "registry.toml"
    path.write_text("\n".join(f"[[file]]\n{e}" for e in entries), encoding="utf-8")
    return path


def tiny_entry(url: str, digest: str, extra: str = "") -> str:
    return (f'path = "data/tiny.csv"\nname = "tiny"\nurl = "{url}"\nsha256 = "{digest}"\nlicence = "CC0-1.0"\n'
            f'citation = "nobody"\n{extra}')


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "upstream" / "tiny.csv"
    path.parent.mkdir()
    path.write_bytes(RAW)
    return path


# ------------------------------------------------------------------------------------------- where the files are
def test_reference_dir_order(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    assert reference_dir(checkout, {}) == checkout / ".reference-data"           # a fork: the download cache
    (tmp_path / "shared").mkdir()
    assert reference_dir(checkout, {}) == tmp_path / "shared"                    # the sibling folder wins over it
    assert reference_dir(checkout, {ENV_VAR: ""}) == tmp_path / "shared"         # an empty setting is no setting
    assert reference_dir(checkout, {ENV_VAR: str(tmp_path / "mine")}) == tmp_path / "mine"  # the setting wins


def test_missing_file_skips_naming_the_dataset(tmp_path, monkeypatch):
    tmp_path = tmp_path.resolve()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(pytest.skip.Exception) as skipped:
        reference_file("reference_data/mpdta_did/mpdta.csv")
    assert str(skipped.value) == (
        "reference data 'mpdta (R did package)' not found: set BEYOND_AVERAGES_REFERENCE_DIR or run "
        f"`make reference-data` with pyreadr installed (looked in {tmp_path / 'reference_data' / 'mpdta_did'})")
    with pytest.raises(pytest.skip.Exception, match=r"^reference data 'Sicily smoking ban, acute coronary events "
                                                    r"\(Lopez Bernal 2017\)' not found: set \w+ or run `make "
                                                    r"reference-data` \(looked in "):
        reference_file("reference_data/sicily_its/sicily.csv")   # a byte-for-byte copy needs no converter
    present = tmp_path / "reference_data" / "mpdta_did" / "mpdta.csv"
    present.parent.mkdir(parents=True)
    present.write_text("year\n2003\n")
    assert reference_file("reference_data/mpdta_did/mpdta.csv") == present


def test_unregistered_file_is_an_error_not_a_skip():
    with pytest.raises(LookupError, match=r"'reference_data/nope\.csv' is not listed in reference_files\.toml"):
        reference_file("reference_data/nope.csv")


# ---------------------------------------------------------------------------------------------------- the registry
def test_registry_lists_every_file_with_its_source_at_a_commit():
    entries = load_registry()
    assert len(entries) == 20
    assert {p.split("/")[1] for p in entries} == {"phe_sii", "mpdta_did", "prop99_cigsales", "sicily_its", "prisma",
                                                  "references", "refi_qda", "screening", "honestdid_bc"}
    # Skip reasons tell the datasets apart: one name per dataset (HonestDiD's two files are one dataset).
    assert len({e.name for e in entries.values()}) == 19
    by_hand = {p for p, e in entries.items() if not e.url}
    assert by_hand == {"reference_data/honestdid_bc/betahat.csv", "reference_data/honestdid_bc/sigma.csv"}
    for path, entry in entries.items():
        if path in by_hand:   # an R list pyreadr cannot read: the note says where and how it was converted
            assert "HonestDiD" in entry.note and re.search(r"[0-9a-f]{40}", entry.note), entry
            continue
        assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", entry.url), entry
    assert {p: e.convert for p, e in entries.items() if e.convert} == CONVERTED
    mpdta = entries["reference_data/mpdta_did/mpdta.csv"]
    assert mpdta.url == ("https://raw.githubusercontent.com/bcallaway11/did/71ba8a564eada94d710d65ec0d4f64041351de96/"
                         "data/mpdta.rda")
    assert mpdta.options == {"integer_columns": ["year", "countyreal", "first.treat", "treat"]}
    assert entries["reference_data/phe_sii/SII_testdata.csv"].options == {"sheet": "testdata_SII"}
    assert entries["reference_data/sicily_its/sicily.csv"].citation.endswith("doi:10.1093/ije/dyw098")


def test_registry_hashes_match_the_reference_folder():
    entries, folder = load_registry(), reference_dir()
    present = [e for e in entries.values() if (folder / e.path).is_file()]
    if not present:
        pytest.skip(f"reference data: none of the {len(entries)} registered files is in {folder}")
    assert {e.path: reference.sha256_of(folder / e.path) for e in present} == {e.path: e.sha256 for e in present}
    if folder.name == "shared":   # the project's own folder must hold every file, so no known-answer test skips
        assert len(present) == len(entries), sorted(set(entries) - {e.path for e in present})


@pytest.mark.parametrize("body, message", [
    ('path = "a.csv"\nname = "a"\nurl = "https://x/a"\nsha256 = "' + "0" * 64 + '"\ncitation = "c"',
     r"\[\[file\]\] 1 \(a\.csv\): missing 'licence'"),
    ('path = "a.csv"\nname = "a"\nurl = "https://x/a"\nsha256 = "ABC"\nlicence = "l"\ncitation = "c"',
     r"\(a\.csv\): 'sha256' must be 64 lower-case hex digits, got 'ABC'"),
    ('path = "a.csv"\nname = "a"\nurl = "https://x/a"\nsha256 = "' + "0" * 64 + '"\nlicence = "l"\ncitation = "c"\n'
     'convert = "sas-to-csv"', r"\(a\.csv\): 'convert' is 'sas-to-csv'; known converters: rda-to-csv, xlsx-to-csv"),
    ('path = "a.csv"\nname = "a"\nsha256 = "' + "0" * 64 + '"\nlicence = "l"\ncitation = "c"',
     r"\(a\.csv\): no 'url' and no 'note' saying where to obtain the file by hand"),
    ('path = "a.csv"\nname = "a"\nurl = "https://x/a"\nsha256 = "' + "0" * 64 + '"\nlicence = "l"\ncitation = "c"\n'
     'licenc = "typo"', r"\(a\.csv\): unknown key\(s\) 'licenc'; allowed: path, name"),
    ('path = "a.csv"\nname = "a"\nurl = "https://x/a"\nsha256 = "' + "0" * 64 + '"\nlicence = "l"\ncitation = "c"\n'
     '[[file]]\npath = "a.csv"\nname = "b"\nurl = "https://x/b"\nsha256 = "' + "1" * 64 + '"\nlicence = "l"\n'
     'citation = "c"', r"\[\[file\]\] 2 \(a\.csv\): 'path' 'a\.csv' is listed twice"),
    ('path = "a.csv\nname = "a"', r": not valid TOML \(Illegal character"),
])
def test_bad_registry_is_an_error_naming_file_entry_and_key(tmp_path, body, message):
    path = write_registry(tmp_path, body)
    with pytest.raises(InputError, match=re.escape(str(path)) + ".*" + message):
        load_registry(path)


# --------------------------------------------------------------------------------------------------- the download
def test_download_checks_sha256_and_keeps_a_verified_file(tmp_path, source):
    registry = write_registry(tmp_path, tiny_entry(source.as_uri(), sha(RAW)))
    log = []
    assert download(registry, tmp_path / "cache", log=log.append) == {"data/tiny.csv": "downloaded"}
    assert (tmp_path / "cache" / "data" / "tiny.csv").read_bytes() == RAW
    assert log == ["  data/tiny.csv: downloaded"]
    source.unlink()   # a second run checks the file it has and fetches nothing
    assert download(registry, tmp_path / "cache", log=log.append) == {"data/tiny.csv": "present"}


def test_wrong_sha256_is_an_error_naming_the_file_and_keeps_nothing(tmp_path, source, capsys):
    wrong = "0" * 64
    registry = write_registry(tmp_path, tiny_entry(source.as_uri(), wrong))
    entry = load_registry(registry)["data/tiny.csv"]
    with pytest.raises(InputError, match=rf"^data/tiny\.csv: sha256 {sha(RAW)} of the file downloaded from "
                                         rf"{re.escape(source.as_uri())} is not the registered {wrong}; not kept$"):
        fetch_one(entry, tmp_path / "cache")
    assert list((tmp_path / "cache" / "data").iterdir()) == []             # no file, no temporary left behind
    assert main(["download", "--registry", str(registry), "--dest", str(tmp_path / "cache")]) == 1
    out, err = capsys.readouterr()
    assert "summary: error 1\n" in out and err.startswith("error: data/tiny.csv: sha256 ")


def test_unreachable_source_is_an_error_naming_the_file(tmp_path):
    gone = (tmp_path / "gone.csv").as_uri()
    entry = load_registry(write_registry(tmp_path, tiny_entry(gone, "0" * 64)))["data/tiny.csv"]
    with pytest.raises(InputError, match=rf"^data/tiny\.csv: download of {re.escape(gone)} failed \("):
        fetch_one(entry, tmp_path / "cache")


def test_file_without_url_is_reported_as_obtain_by_hand(tmp_path, capsys):
    body = ('path = "data/tiny.csv"\nname = "tiny"\nurl = ""\nsha256 = "' + "0" * 64 + '"\nlicence = "l"\n'
            'citation = "c"\nnote = "ask the authors of the tutorial"')
    registry = write_registry(tmp_path, body)
    assert main(["download", "--registry", str(registry), "--dest", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "  data/tiny.csv: obtain by hand: ask the authors of the tutorial\n" in out
    assert "summary: obtain by hand 1\n" in out and not (tmp_path / "cache").exists()


def test_conversion_without_its_library_says_how_to_install_it(tmp_path, source, monkeypatch):
    monkeypatch.setitem(reference.CONVERTERS, "rda-to-csv", Converter("no_such_module_for_this_test", print))
    registry = write_registry(tmp_path, tiny_entry(source.as_uri(), "0" * 64, 'convert = "rda-to-csv"'))
    status = download(registry, tmp_path / "cache", log=lambda line: None)["data/tiny.csv"]
    assert status == (f"needs conversion (rda-to-csv) from {source.as_uri()}: install no_such_module_for_this_test "
                      "(`.venv/bin/python -m pip install no_such_module_for_this_test`) and rerun `make reference-data`")
    assert not (tmp_path / "cache").exists()


def test_converted_file_is_checked_against_the_registered_sha256(tmp_path, source, monkeypatch):
    def shout(src, out, options):   # a stand-in converter: upper-cases the source
        out.write_bytes(src.read_bytes().upper())

    monkeypatch.setitem(reference.CONVERTERS, "rda-to-csv", Converter("csv", shout))
    good = write_registry(tmp_path, tiny_entry(source.as_uri(), sha(UPPER), 'convert = "rda-to-csv"'))
    assert download(good, tmp_path / "cache", log=lambda line: None) == {"data/tiny.csv": "converted"}
    assert (tmp_path / "cache" / "data" / "tiny.csv").read_bytes() == UPPER
    # the registered sha256 is of the converted file, not of the source: the source's hash is a mismatch
    bad = write_registry(tmp_path, tiny_entry(source.as_uri(), sha(RAW), 'convert = "rda-to-csv"'))
    status = download(bad, tmp_path / "other", log=lambda line: None)["data/tiny.csv"]
    assert status.startswith(f"error: data/tiny.csv: sha256 {sha(UPPER)} of the file converted (rda-to-csv) "
                             f"from {source.as_uri()} is not the registered {sha(RAW)}")


def test_where_reports_the_folder_and_how_many_files_it_holds(tmp_path, monkeypatch, capsys):
    tmp_path = tmp_path.resolve()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    (tmp_path / "reference_data" / "sicily_its").mkdir(parents=True)
    (tmp_path / "reference_data" / "sicily_its" / "sicily.csv").write_text("year\n")
    assert main(["where"]) == 0
    assert capsys.readouterr().out == f"the tests read {tmp_path}: 1 of 20 registered reference files present\n"
