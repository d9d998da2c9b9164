"""Qualitative strand: coded interviews, focus groups and case studies -> theme summaries for a chapter.

Import coded data from CSV (:func:`load_csv_project`), a REFI-QDA ``.qdpx`` (:func:`load_qdpx`) or QualCoder's
coding report (:func:`load_qualcoder_csv`), all validated into one :class:`QualData` (:func:`load_project` picks the
route from the path); agreement between coders is :func:`agreement`; summarise it with :mod:`.summaries` (or all at once for the chapter with
:func:`run_qualitative_analysis`); write it back to REFI-QDA with :func:`to_qdpx`. Tables, sentences and figures are
in :mod:`beyond_averages.report.qualitative`. Real names never pass the importers (:mod:`.pseudonymity`).
"""

from .agreement import agreement
from .analysis import QualitativeAnalysis, load_project, run_qualitative_analysis
from .csv_import import load_csv_project
from .model import METHODS, ROLES, QualData, build_qual_data
from .pseudonymity import Redactor
from .qualcoder import load_qualcoder_csv
from .refi_export import to_qdpx
from .refi_mapping import load_qdpx, refi_to_qual_data
from .refi_qda import RefiProject, read_qdpx

__all__ = [
    "METHODS", "ROLES", "QualData", "QualitativeAnalysis", "Redactor", "RefiProject", "agreement",
    "build_qual_data", "load_csv_project", "load_project", "load_qdpx", "load_qualcoder_csv", "read_qdpx", "refi_to_qual_data", "run_qualitative_analysis", "to_qdpx",
]
