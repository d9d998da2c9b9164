"""Literature-review strand: screening log -> PRISMA 2020 flow, extraction -> tables, equity synthesis, risk of bias.

Modules, one job each: ``vocabulary`` (controlled codes and labels), ``screening_log`` (the checked PRISMA counts),
``importers`` (PRISMA2020 app CSV, Rayyan, Covidence, labelled CSVs), ``references`` (RIS/BibTeX in, BibTeX out),
``extraction`` (the validated study table), ``dataset`` (load and
cross-check all inputs), ``synthesis`` (counts, harvest data, PROGRESS-Plus coverage, risk of bias), ``flow`` (PRISMA
box content), ``synthetic`` (the labelled fictional example); ``python -m beyond_averages.review IN OUT`` converts a
reference library to BibTeX (``__main__``). Tables, sentences and figures of the review are in
:mod:`beyond_averages.report.review` and :mod:`beyond_averages.report.prisma`.
"""

from .dataset import ReviewData, load_review

__all__ = ["ReviewData", "load_review"]
