"""Load the three inputs of the review together and check that they agree with each other."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import paths
from ..files import InputError
from .certainty import certainty_of_evidence
from .extraction import check_links, read_extraction
from .importers import read_log
from .protocol import Protocol, check_flow_against_protocol, read_protocol
from .references import Reference, read_references
from .screening_log import ScreeningLog


@dataclass(frozen=True)
class ReviewData:
    """A screening log, an extraction table and the references of the included studies, all validated."""

    log: ScreeningLog
    extraction: pd.DataFrame
    references: tuple[Reference, ...]
    protocol: Protocol | None = None

    @property
    def is_synthetic(self) -> bool:
        """True when every reference is a labelled synthetic record (title starting "[SYNTHETIC]")."""
        return all(r.title.startswith("[SYNTHETIC]") for r in self.references)

    def certainty(self) -> pd.DataFrame:
        """The certainty of the evidence on inequalities, per outcome, by the protocol's rules
        (:func:`.certainty.certainty_of_evidence`; default thresholds without a protocol)."""
        if self.protocol is None:
            return certainty_of_evidence(self.extraction)
        return certainty_of_evidence(self.extraction, self.protocol.certainty, self.protocol.source)


def load_review(screening_log: str | os.PathLike, extraction: str | os.PathLike,
                references: str | os.PathLike, protocol: str | os.PathLike | None = None) -> ReviewData:
    """Read and cross-check the inputs: every extraction key has a reference and vice versa, and the log's
    included-studies count (the total, when a previous version is counted) equals the number of extraction rows.
    With a ``protocol`` (:mod:`.protocol`), the log's sources and exclusion reasons must be the protocol's, and no
    included study may fail a criterion the log excludes reports for.
    Relative paths are taken from the repository root, so the same parameters work from any working directory."""
    screening_log, extraction, references = (paths.resolve(p) for p in (screening_log, extraction, references))
    log = read_log(screening_log)
    table = read_extraction(extraction)
    refs = read_references(references)
    check_links(table, refs, str(Path(extraction)), str(Path(references)))
    if log.total_studies != len(table):
        raise InputError(
            f"{screening_log}: box 'Total studies included in review' is {log.total_studies} "
            f"({log.where.get('new_studies', 'new_studies')}), but {extraction} has {len(table)} study rows; "
            "the extraction needs one row per included study")
    if protocol is None:
        return ReviewData(log, table, refs)
    plan = read_protocol(paths.resolve(protocol))
    check_flow_against_protocol(plan, log, table, str(Path(extraction)))
    return ReviewData(log, table, refs, plan)
