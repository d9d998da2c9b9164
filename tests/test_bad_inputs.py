"""The bad-input suite: malformed inputs across the extract, the configuration, and the review and qualitative
readers, each through the public API or the command line a user would call.

Every case asserts (1) the error class, (2) that the message is one line naming the file and the field (column,
key, attribute or line) that is wrong, and (3) that no output file was created or changed. The cases are
built in a temporary folder from small valid inputs plus one defect each.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import test_extract_check as extract
import test_ppie as ppie
import test_qual_import as qual_csv
import test_qual_refi as qual_refi
import test_review_protocol as review_protocol
import test_review_references as review_refs
import test_review_screening as review_screening
import yaml

from beyond_averages import cli, config, paths
from beyond_averages.files import InputError
from beyond_averages.ppie import read_meetings
from beyond_averages.qual import load_csv_project, load_qdpx
from beyond_averages.review.protocol import read_protocol
from beyond_averages.review.references import read_references


@dataclass(frozen=True)
class Case:
    """One malformed input: ``build`` writes it under the temporary folder and returns the path to read;
    ``read`` reads it (raising); ``names`` must appear in the message, as must the file read and, when given, the
    regular expression ``pattern`` (which names the field: column, key, attribute or line). Nothing in the
    temporary folder may be created or changed by the failed read; ``outputs`` lists what the command would write."""

    id: str
    build: Callable[[Path], Path]
    read: Callable[[Path, Path], object]
    error: type[Exception]
    names: tuple[str, ...] = ()
    pattern: str = ""
    outputs: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------------------------- configuration
def _yaml_variant(source: Path, name: str, edit: Callable[[dict], object] | None = None, text: str | None = None):
    def build(tmp: Path) -> Path:
        path = tmp / name
        if text is not None:
            path.write_text(text, encoding="utf-8")
        else:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
            edit(data)
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path
    return build


def _study(edit=None, text=None):
    return _yaml_variant(paths.ROOT / "study.yaml", "study.yaml", edit, text)


def _area(edit=None, text=None):
    return _yaml_variant(paths.area_file("cervical_screening"), "cervical_screening.yaml", edit, text)


def _load_study(path: Path, tmp: Path):
    return config.load_study(path)


def _load_area(path: Path, tmp: Path):
    return config.load_area(path)


def _set(mapping_path: str, value):
    def edit(data):
        *parents, leaf = mapping_path.split(".")
        for p in parents:
            data = data[p]
        data[leaf] = value
    return edit


def _drop(mapping_path: str):
    def edit(data):
        *parents, leaf = mapping_path.split(".")
        for p in parents:
            data = data[p]
        del data[int(leaf) if leaf.isdigit() else leaf]
    return edit


CONFIG_CASES = [
    Case("study: unknown key", _study(_set("extrct_dir", "x")), _load_study, config.ConfigError,
         ("study.yaml", "extrct_dir", "unknown key")),
    Case("study: missing key", _study(_drop("study_start")), _load_study, config.ConfigError,
         ("study.yaml", "study_start", "missing")),
    Case("study: month not on day 1", _study(_set("covid_start", "2020-03-15")), _load_study, config.ConfigError,
         ("study.yaml", "covid_start", "first day of a month")),
    Case("study: window reversed", _study(_set("study_end", "2016-01-01")), _load_study, config.ConfigError,
         ("study.yaml", "study_end")),
    Case("study: negative rounding base", _study(_set("disclosure.round_to", 0)), _load_study, config.ConfigError,
         ("study.yaml", "disclosure.round_to")),
    Case("study: text for a number", _study(_set("synthetic.n_practices", "many")), _load_study, config.ConfigError,
         ("study.yaml", "synthetic.n_practices")),
    Case("study: not YAML", _study(text="extract_dir: [unclosed\n"), _load_study, config.ConfigError,
         ("study.yaml", "not valid YAML at line 2, column 1")),
    Case("study: not a mapping", _study(text="- a list\n"), _load_study, config.ConfigError,
         ("study.yaml", "mapping")),
    Case("area: typo in a key", _area(_set("indicator.lookbak_months", 3)), _load_area, config.ConfigError,
         ("cervical_screening.yaml", "indicator.lookbak_months", "unknown key")),
    Case("area: missing codelist key", _area(_drop("indicator.codelist")), _load_area, config.ConfigError,
         ("cervical_screening.yaml", "indicator.codelist", "missing")),
    Case("area: codelist not defined", _area(_set("indicator.codelist", "smear")), _load_area, config.ConfigError,
         ("cervical_screening.yaml", "indicator.codelist", "smear")),
    Case("area: a quintile missing", _area(_drop("synthetic.baseline_by_quintile.3")), _load_area,
         config.ConfigError, ("cervical_screening.yaml", "baseline_by_quintile")),
    Case("area: name is not the file name", _area(_set("name", "cervical")), _load_area, config.ConfigError,
         ("cervical_screening.yaml", "name", "file name")),
    Case("area: scenario missing", _area(_drop("synthetic.effects_pp.widening")), _load_area, config.ConfigError,
         ("cervical_screening.yaml", "effects_pp", "widening")),
]

# ------------------------------------------------------------------------------------ the extract (measures CLI)
def _extract_case(bad) -> Case:
    def build(tmp: Path) -> Path:
        return extract.bad_extract(tmp, bad)

    def read(folder: Path, tmp: Path):  # the command a user runs; --debug raises instead of printing one line
        return cli.main(["--debug", "measures", extract.AREA, "--extract", str(folder), "--out", str(tmp / "out")])

    # A missing file has no column to name; every other case names the column it breaks.
    column = f"'{bad.column}'" if bad.count is not None or "column" in bad.rule else ""
    return Case(f"extract: {bad.id}", build, read, InputError, (bad.file, bad.rule), column, ("out",))


# ---------------------------------------------------------------------------------- review and qualitative readers
def _text_file(name: str, text) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path
    return build


def _screening_case(k, reader, name, text, message) -> Case:
    return Case(f"review screening {k}: {name}", _text_file(name, text), lambda p, t: reader(p), InputError, (),
                message)


def _library_case(k, name, text, message) -> Case:
    return Case(f"review library {k}: {name}", _text_file(name, text), lambda p, t: read_references(p), InputError,
                (), message)


def _protocol_case(k, name, text, message) -> Case:
    return Case(f"review protocol {k}: {name}", _text_file(name, text), lambda p, t: read_protocol(p), InputError,
                (), message)


def _ppie_case(k, name, text, message) -> Case:
    return Case(f"ppie log {k}: {name}", _text_file(name, text), lambda p, t: read_meetings(p), InputError, (),
                message)


def _qual_csv_case(k, change, name, message) -> Case:
    def build(tmp: Path) -> Path:
        folder = qual_csv._good_project(tmp / "project")
        change(folder)
        return folder

    return Case(f"qualitative CSV {k}: {name}", build, lambda folder, t: load_csv_project(folder), InputError,
                (name,), message)


def _qdpx_case(k, make, message) -> Case:
    return Case(f"qualitative qdpx {k}", make, lambda path, t: load_qdpx(path), InputError, (), message)


CASES = [
    *CONFIG_CASES,
    *(_extract_case(bad) for bad in extract.BAD_INPUTS),
    *(_screening_case(k, *c) for k, c in enumerate(review_screening.MALFORMED_SCREENING, 1)),
    *(_library_case(k, *c) for k, c in enumerate(review_refs.MALFORMED_LIBRARIES, 1)),
    *(_protocol_case(k, *c) for k, c in enumerate(review_protocol.MALFORMED_PROTOCOLS, 1)),
    *(_ppie_case(k, *c) for k, c in enumerate(ppie.MALFORMED_LOGS, 1)),
    *(_qual_csv_case(k, *c) for k, c in enumerate(qual_csv.MALFORMED_CSV_PROJECTS, 1)),
    *(_qdpx_case(k, *c) for k, c in enumerate(qual_refi.MALFORMED_QDPX, 1)),
]


def _snapshot(tmp: Path) -> dict[str, str]:
    """Every file under the temporary folder and its content hash."""
    return {str(p.relative_to(tmp)): hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp.rglob("*") if p.is_file()}


def test_the_suite_is_broad():
    assert len(CASES) >= 40, f"{len(CASES)} bad inputs"
    assert len({c.id for c in CASES}) == len(CASES)
    readers = {c.id.split(" ")[0].rstrip(":") for c in CASES}
    assert readers == {"study", "area", "extract", "review", "ppie", "qualitative"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_gets_one_clear_line(case, tmp_path):
    path = case.build(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(case.error) as info:
        case.read(path, tmp_path)
    message = str(info.value)
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    assert str(path) in message or path.name in message, f"the file is not named: {message!r}"
    for name in case.names:
        assert name in message, f"{name!r} not in {message!r}"
    if case.pattern:
        assert re.search(case.pattern, message), f"{case.pattern!r} not in {message!r}"
    assert _snapshot(tmp_path) == before, "an output file was created or changed"
    assert not any((tmp_path / o).exists() for o in case.outputs), "an output was created"
    assert issubclass(case.error, InputError)
