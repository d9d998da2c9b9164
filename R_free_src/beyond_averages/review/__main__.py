"""Convert a reference library for the book: ``python -m beyond_averages.review IN.ris|IN.bib OUT.bib``.

A module of its own (not ``review.references``) because the package imports ``references`` on start-up, and
``python -m`` on a module already imported prints runpy's double-import warning before any message of ours.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ConfigError
from ..files import InputError
from .references import read_references, write_bibtex


def main(argv: list[str] | None = None) -> int:
    """0 on success; a bad input prints one line ``error: <message>`` to stderr and returns 2."""
    parser = argparse.ArgumentParser(
        prog="python -m beyond_averages.review",
        description="Convert a RIS or BibTeX library into the BibTeX file Quarto needs (keys as Zotero builds them, "
                    "titles' acronyms protected). Relative paths are taken from the current working directory. OUT "
                    "is written only when the whole library reads, and replaced atomically.")
    parser.add_argument("source", metavar="IN", help="library to read: .ris/.txt (RIS) or .bib (BibTeX), UTF-8")
    parser.add_argument("target", metavar="OUT", help="BibTeX file to write")
    parser.add_argument("--debug", action="store_true", help="re-raise an input error with its full traceback")
    args = parser.parse_args(argv)
    try:
        write_bibtex(read_references(Path(args.source).resolve()), Path(args.target).resolve())
    except (InputError, ConfigError) as exc:
        if args.debug:
            raise
        print("error: " + " ".join(str(exc).splitlines()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
