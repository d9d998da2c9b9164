"""Qualitative strand: coded interviews, focus groups and case studies -> theme summaries for a chapter.

Import coded data from CSV (:func:`load_csv_project`) or a REFI-QDA ``.qdpx`` (:func:`load_qdpx`), both validated
into one :class:`QualData`; summarise it with :mod:`.summaries` (or all at once for the chapter with
:func:`run_qualitative_analysis`); write it back to REFI-QDA with :func:`to_qdpx`. Tables, sentences and figures are
in :mod:`beyond_averages.report.qualitative`. Real names never pass the importers (:mod:`.pseudonymity`).
"""

from .analysis import QualitativeAnalysis, run_qualitative_analysis
from .csv_import import load_csv_project
from .model import METHODS, ROLES, QualData, build_qual_data
from .pseudonymity import Redactor
from .refi_export import to_qdpx
from .refi_qda import RefiProject, load_qdpx, read_qdpx, refi_to_qual_data

__all__ = [
    "METHODS", "ROLES", "QualData", "QualitativeAnalysis", "Redactor", "RefiProject", "build_qual_data",
    "load_csv_project", "load_qdpx", "read_qdpx", "refi_to_qual_data", "run_qualitative_analysis", "to_qdpx",
]
