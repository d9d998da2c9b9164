"""Literature-review strand: screening log -> PRISMA 2020 flow, extraction -> tables, equity synthesis, risk of bias.

Modules, one job each: ``vocabulary`` (controlled codes and labels), ``screening_log`` (the checked PRISMA counts),
``importers`` (PRISMA2020 app CSV, Rayyan, Covidence, labelled CSVs), ``references`` (RIS/BibTeX in, BibTeX out),
``extraction`` (the validated study table), ``dataset`` (load and cross-check all inputs), ``synthesis`` (counts,
harvest data, PROGRESS-Plus coverage, risk of bias, computed sentences), ``flow`` (PRISMA box content),
``figures``, ``tables``, ``synthetic`` (the labelled fictional example).
"""

from .dataset import ReviewData, load_review

__all__ = ["ReviewData", "load_review"]
