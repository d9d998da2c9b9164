"""The content of the PRISMA 2020 flow diagram: which boxes, where, with which text and arrows, from a log.

Pure data, so tests can check every box against the log; :func:`.figures.prisma_flow_figure` only draws it.
Layout follows the PRISMA 2020 templates: phases as rows (identification, screening, included), the databases and
registers branch in the middle with exclusions to its right, the other-methods branch (websites, organisations,
citation searching) further right when it has records, and the previous-studies column on the left for updated
reviews. Rows: 0 identification, 1 records screened, 2 reports sought, 3 reports assessed, 4 included.
"""

from __future__ import annotations

import pandas as pd

from .screening_log import ScreeningLog

COLUMNS = ("previous", "main", "main_side", "other", "other_side")
KIND_TITLES = {"database": "Databases", "register": "Registers", "website": "Websites",
               "organisation": "Organisations", "citation": "Citation searching"}


def _n(value: int | None) -> str:
    return f"(n = {value:,})"


def _identified_lines(log: ScreeningLog, kinds: tuple[str, ...]) -> list[str]:
    lines = ["Records identified from:"]
    for kind in kinds:
        sources = [s for s in log.sources if s.kind == kind]
        if not sources:
            continue
        lines.append(f"{KIND_TITLES[kind]} {_n(sum(s.n for s in sources))}")
        named = [s for s in sources if s.name.lower() != KIND_TITLES[kind].lower()]
        if len(sources) > 1 or named:
            lines += [f"  {s.name} {_n(s.n)}" for s in sources]
    return lines


def prisma_boxes(log: ScreeningLog) -> pd.DataFrame:
    """One row per box: ``box, column, row, n, text`` (``n`` = the box's headline count; text lines joined by \\n)."""
    c = log.counts
    boxes: list[tuple[str, str, int, int | None, list[str]]] = []
    if log.has_previous:
        prev = [f"Studies included in previous version of review {_n(c['previous_studies'])}"]
        if c["previous_reports"] is not None:
            prev.append(f"Reports of studies included in previous version of review {_n(c['previous_reports'])}")
        boxes.append(("previous", "previous", 0, c["previous_studies"], prev))
    boxes += [
        ("identified", "main", 0, log.identified(("database", "register")),
         _identified_lines(log, ("database", "register"))),
        ("removed", "main_side", 0, c["duplicates_removed"] + c["automation_removed"] + c["other_removed"],
         ["Records removed before screening:", f"Duplicate records removed {_n(c['duplicates_removed'])}",
          f"Records marked as ineligible by automation tools {_n(c['automation_removed'])}",
          f"Records removed for other reasons {_n(c['other_removed'])}"]),
        ("screened", "main", 1, c["records_screened"], ["Records screened", _n(c["records_screened"])]),
        ("records_excluded", "main_side", 1, c["records_excluded"], ["Records excluded", _n(c["records_excluded"])]),
        ("sought", "main", 2, c["reports_sought"], ["Reports sought for retrieval", _n(c["reports_sought"])]),
        ("not_retrieved", "main_side", 2, c["reports_not_retrieved"],
         ["Reports not retrieved", _n(c["reports_not_retrieved"])]),
        ("assessed", "main", 3, c["reports_assessed"], ["Reports assessed for eligibility", _n(c["reports_assessed"])]),
        ("reports_excluded", "main_side", 3, log.excluded("reports_excluded"),
         ["Reports excluded:"] + [f"{r.reason} {_n(r.n)}" for r in log.reasons["reports_excluded"]]),
    ]
    if log.has_other_methods:
        boxes += [
            ("other_identified", "other", 0, log.identified(("website", "organisation", "citation")),
             _identified_lines(log, ("website", "organisation", "citation"))),
            ("other_sought", "other", 2, c["other_reports_sought"],
             ["Reports sought for retrieval", _n(c["other_reports_sought"])]),
            ("other_not_retrieved", "other_side", 2, c["other_reports_not_retrieved"],
             ["Reports not retrieved", _n(c["other_reports_not_retrieved"])]),
            ("other_assessed", "other", 3, c["other_reports_assessed"],
             ["Reports assessed for eligibility", _n(c["other_reports_assessed"])]),
            ("other_excluded", "other_side", 3, log.excluded("other_reports_excluded"),
             ["Reports excluded:"] + [f"{r.reason} {_n(r.n)}" for r in log.reasons["other_reports_excluded"]]),
        ]
    new = "New studies included in review" if log.has_previous else "Studies included in review"
    new_reports = "Reports of new included studies" if log.has_previous else "Reports of included studies"
    included = [f"{new} {_n(c['new_studies'])}"]
    if c["new_reports"] is not None:
        included.append(f"{new_reports} {_n(c['new_reports'])}")
    boxes.append(("included", "main", 4, c["new_studies"], included))
    if log.has_previous:
        total = [f"Total studies included in review {_n(log.total_studies)}"]
        if log.total_reports is not None:
            total.append(f"Reports of total included studies {_n(log.total_reports)}")
        boxes.append(("total", "previous", 4, log.total_studies, total))
    frame = pd.DataFrame(boxes, columns=["box", "column", "row", "n", "lines"])
    frame["text"] = frame.pop("lines").map("\n".join)
    frame["n"] = frame["n"].astype("Int64")
    return frame


def prisma_arrows(boxes: pd.DataFrame) -> list[tuple[str, str]]:
    """Arrows (from box, to box) between the boxes present."""
    present = set(boxes["box"])
    arrows = [("identified", "removed"), ("identified", "screened"), ("screened", "records_excluded"),
              ("screened", "sought"), ("sought", "not_retrieved"), ("sought", "assessed"),
              ("assessed", "reports_excluded"), ("assessed", "included"),
              ("other_identified", "other_sought"), ("other_sought", "other_not_retrieved"),
              ("other_sought", "other_assessed"), ("other_assessed", "other_excluded"), ("other_assessed", "included"),
              ("previous", "total"), ("included", "total")]
    return [(a, b) for a, b in arrows if a in present and b in present]


def prisma_headers(log: ScreeningLog) -> list[tuple[str, tuple[str, ...]]]:
    """Column title boxes: (text, columns spanned)."""
    new = "new studies " if log.has_previous else "studies "
    headers = []
    if log.has_previous:
        headers.append(("Previous studies", ("previous",)))
    headers.append((f"Identification of {new}via databases and registers", ("main", "main_side")))
    if log.has_other_methods:
        headers.append((f"Identification of {new}via other methods", ("other", "other_side")))
    return headers
