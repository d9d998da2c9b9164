"""Where the third-party reference files of the known-answer tests are, and how to fetch them.

The files (published datasets, real tool exports) are not ours, so they are never in the repository. One setting
says where they are, checked in this order:

1. ``BEYOND_AVERAGES_REFERENCE_DIR``, if set;
2. ``../shared`` beside the checkout, if it exists (the project's own machines);
3. ``.reference-data/`` at the repository root (git-ignored), filled by ``make reference-data``.

``tests/reference_files.toml`` lists every file the tests read, with its source URL, sha256, licence and citation.
A test asks for a file with ``reference_file("reference_data/mpdta_did/mpdta.csv")``: it gets the path, or the test
is skipped with a reason naming the dataset, so a fork without the files runs every other test.

``python tests/reference.py download`` (what ``make reference-data`` runs) downloads each file into
``.reference-data/``, checks its sha256 and, for a file PROVENANCE.md describes as a conversion (an R ``.rda`` or an
Excel sheet turned into CSV), converts it when the converter library is installed. ``python tests/reference.py
where`` says which folder the tests read and how many of the files it holds.

This lives in ``tests/``, not in the package: the pipeline (``make``) never reads these files.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import tomllib
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from beyond_averages.files import InputError, atomic_path

ENV_VAR = "BEYOND_AVERAGES_REFERENCE_DIR"
ROOT = Path(__file__).resolve().parents[1]    # the checkout this tests/ folder belongs to
REGISTRY = Path(__file__).with_name("reference_files.toml")
CACHE_NAME = ".reference-data"
HINT = f"set {ENV_VAR} or run `make reference-data`"


def reference_dir(root: Path = ROOT, environ: Mapping[str, str] = os.environ) -> Path:
    """The one folder the tests read reference files from (see the module docstring for the order)."""
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR]).expanduser().resolve()
    sibling = root.parent / "shared"
    return sibling if sibling.is_dir() else root / CACHE_NAME


# --------------------------------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Entry:
    path: str                   # relative to the reference folder, as under ../shared
    name: str                   # the dataset, as skip reasons and the downloader name it
    sha256: str                 # of the file the tests read (after conversion, for a converted file)
    licence: str
    citation: str
    url: str = ""               # the file, or for a conversion its source; empty when it must be obtained by hand
    convert: str = ""           # a key of CONVERTERS, or empty for a byte-for-byte copy
    note: str = ""              # where to get it by hand when there is no URL; any caveat
    options: dict = field(default_factory=dict)  # converter options (integer_columns, sheet)


REQUIRED = ("path", "name", "sha256", "licence", "citation")
OPTIONAL = ("url", "convert", "note", "integer_columns", "sheet")


def load_registry(path: Path = REGISTRY) -> dict[str, Entry]:
    """The registry's entries by relative path; a malformed entry is an InputError naming the file, entry and key."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: not valid TOML ({err})") from None
    entries = {}
    for i, raw in enumerate(data.get("file", []), start=1):
        where = f"{path}: [[file]] {i} ({raw.get('path', 'no path')})"
        missing = [k for k in REQUIRED if not str(raw.get(k, "")).strip()]
        if missing:
            raise InputError(f"{where}: missing {', '.join(repr(k) for k in missing)}")
        unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise InputError(f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
                             f"allowed: {', '.join(REQUIRED + OPTIONAL)}")
        if not re.fullmatch(r"[0-9a-f]{64}", str(raw["sha256"])):
            raise InputError(f"{where}: 'sha256' must be 64 lower-case hex digits, got {raw['sha256']!r}")
        if raw.get("convert") and raw["convert"] not in CONVERTERS:
            raise InputError(f"{where}: 'convert' is {raw['convert']!r}; known converters: {', '.join(CONVERTERS)}")
        if not raw.get("url") and not raw.get("note"):
            raise InputError(f"{where}: no 'url' and no 'note' saying where to obtain the file by hand")
        if raw["path"] in entries:
            raise InputError(f"{where}: 'path' {raw['path']!r} is listed twice")
        options = {k: raw[k] for k in ("integer_columns", "sheet") if k in raw}
        entries[raw["path"]] = Entry(**{k: raw[k] for k in REQUIRED + ("url", "convert", "note") if k in raw},
                                     options=options)
    return entries


@cache
def _registry() -> dict[str, Entry]:
    return load_registry()


def reference_file(relative: str) -> Path:
    """The path of a registered reference file, or skip the calling test with a reason naming the dataset.

    A path missing from the registry is an error, not a skip: every file a test reads must be listed there."""
    entries = _registry()
    if relative not in entries:
        raise LookupError(f"{relative!r} is not listed in {REGISTRY.name}: add its entry (URL, sha256, licence, "
                          "citation from its PROVENANCE.md) before a test reads it")
    entry, path = entries[relative], reference_dir() / relative
    if not path.is_file():
        needs = f" with {CONVERTERS[entry.convert].module} installed" if entry.convert else ""
        pytest.skip(f"reference data '{entry.name}' not found: {HINT}{needs} (looked in {path.parent})")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------- converters
def _rda_to_csv(source: Path, out: Path, options: dict) -> None:
    """As PROVENANCE.md describes: the .rda's one data frame read with pyreadr, integer columns written as integers,
    doubles at full precision (pandas writes the shortest repr that round-trips)."""
    import pyreadr

    objects = pyreadr.read_r(str(source))
    if len(objects) != 1:
        raise InputError(f"{source}: expected one R object, found {len(objects)} ({', '.join(objects)})")
    frame = next(iter(objects.values()))
    for column in options.get("integer_columns", []):
        frame[column] = frame[column].astype("int64")
    frame.to_csv(out, index=False, lineterminator="\n")


def _xlsx_to_csv(source: Path, out: Path, options: dict) -> None:
    """As PROVENANCE.md describes: one sheet of the workbook read with pandas/openpyxl and written as CSV."""
    import pandas as pd

    pd.read_excel(source, sheet_name=options["sheet"]).to_csv(out, index=False, lineterminator="\n")


@dataclass(frozen=True)
class Converter:
    module: str                                   # the library the conversion needs
    run: Callable[[Path, Path, dict], None]


CONVERTERS = {"rda-to-csv": Converter("pyreadr", _rda_to_csv), "xlsx-to-csv": Converter("openpyxl", _xlsx_to_csv)}


# ------------------------------------------------------------------------------------------------------ download
def _fetch(url: str, out: Path) -> None:
    """https:// for real sources; file:// for the offline test of this downloader (same code path)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(out, "wb") as handle:
        shutil.copyfileobj(response, handle)


def fetch_one(entry: Entry, dest: Path) -> str:
    """Put one entry's file under ``dest``; returns its status. A wrong sha256 or a failed download is an
    InputError naming the file; nothing is left half-written (the file is moved into place only once checked)."""
    target = dest / entry.path
    if target.is_file() and sha256_of(target) == entry.sha256:
        return "present"
    if not entry.url:
        return f"obtain by hand: {entry.note}"
    converter = CONVERTERS.get(entry.convert)
    if converter and importlib.util.find_spec(converter.module) is None:
        return (f"needs conversion ({entry.convert}) from {entry.url}: install {converter.module} "
                f"(`.venv/bin/python -m pip install {converter.module}`) and rerun `make reference-data`")
    with atomic_path(target) as tmp:
        try:
            if converter:
                with tempfile.TemporaryDirectory() as work:
                    source = Path(work) / entry.url.rsplit("/", 1)[-1]
                    _fetch(entry.url, source)
                    converter.run(source, tmp, entry.options)
            else:
                _fetch(entry.url, tmp)
        except OSError as err:  # URLError is an OSError
            raise InputError(f"{entry.path}: download of {entry.url} failed ({err})") from None
        got = sha256_of(tmp)
        if got != entry.sha256:
            made = f"converted ({entry.convert}) from {entry.url}" if converter else f"downloaded from {entry.url}"
            raise InputError(f"{entry.path}: sha256 {got} of the file {made} is not the registered "
                             f"{entry.sha256}; not kept")
    return "converted" if converter else "downloaded"


def download(registry: Path = REGISTRY, dest: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Fetch every registered file into ``dest`` (default ``.reference-data/``); returns {path: status}.

    Errors are collected, so one unreachable file does not stop the rest; the caller decides the exit status."""
    dest = Path(dest) if dest is not None else ROOT / CACHE_NAME
    status = {}
    for entry in load_registry(registry).values():
        try:
            status[entry.path] = fetch_one(entry, dest)
        except InputError as err:
            status[entry.path] = f"error: {err}"
        log(f"  {entry.path}: {status[entry.path]}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/reference.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="download the reference files into .reference-data/ (needs internet)")
    get.add_argument("--dest", type=Path, default=ROOT / CACHE_NAME)
    get.add_argument("--registry", type=Path, default=REGISTRY)
    sub.add_parser("where", help="say which folder the tests read and how many registered files it holds")
    args = parser.parse_args(argv)
    if args.command == "where":
        folder, entries = reference_dir(), _registry()
        held = sum((folder / e.path).is_file() for e in entries.values())
        print(f"the tests read {folder}: {held} of {len(entries)} registered reference files present")
        return 0
    print(f"reference data -> {args.dest}")
    status = download(args.registry, args.dest)
    counts: dict[str, int] = {}
    for value in status.values():
        kind = value.split(":")[0].split(" (")[0]
        counts[kind] = counts.get(kind, 0) + 1
    print("summary: " + ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())))
    if reference_dir() != args.dest.resolve():
        print(f"note: the tests read {reference_dir()} ({ENV_VAR} or ../shared takes precedence), not {args.dest}")
    errors = [v for v in status.values() if v.startswith("error")]
    for line in errors:
        print(line, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
