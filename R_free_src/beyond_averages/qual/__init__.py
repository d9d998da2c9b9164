"""Qualitative strand: coded interviews, focus groups and case studies -> theme summaries for a chapter.

Import coded data from CSV (:func:`load_csv_project`) or a REFI-QDA ``.qdpx`` (:func:`load_qdpx`), both validated
into one :class:`QualData`; summarise it with :mod:`.summaries`; draw it with :mod:`.figures`; write it back to
REFI-QDA with :func:`to_qdpx`. Real names never pass the importers (:mod:`.pseudonymity`).
"""

from .csv_import import load_csv_project
from .model import METHODS, ROLE_LABELS, ROLES, QualData, build_qual_data
from .pseudonymity import Redactor
from .refi_qda import RefiProject, load_qdpx, read_qdpx, refi_to_qual_data, to_qdpx

__all__ = [
    "METHODS", "ROLES", "ROLE_LABELS", "QualData", "Redactor", "RefiProject", "build_qual_data",
    "load_csv_project", "load_qdpx", "read_qdpx", "refi_to_qual_data", "to_qdpx",
]
