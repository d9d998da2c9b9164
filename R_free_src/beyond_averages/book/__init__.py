"""The thesis book: the Quarto project read into a model, its structural checks, and rendering (Quarto when it is
on PATH, else the fallback renderer built on pandoc).

Public API: :func:`load_book` (``_quarto.yml`` -> :class:`Book` of parts and chapters), :func:`check_book`,
:func:`render` (Quarto or fallback), :func:`render_fallback`, and :func:`main` (``python -m beyond_averages.book``).

Modules, each one job: ``model`` (``_quarto.yml`` -> ``Book``), ``pandoc`` (running pandoc, the JSON AST),
``notebook`` (executed notebooks -> Pandoc markdown), ``data_qmd`` (markdown in HTML tables), ``shortcodes``
(``{{< embed >}}``), ``pages`` (one chapter -> ``Page``), ``crossrefs`` (labels, numbering, cross-references),
``citations`` (bibliography keys, citeproc), ``shell`` (the shared HTML page), ``checks`` and ``render``.
"""

from beyond_averages.book.checks import check_book
from beyond_averages.book.model import Book, Part, load_book
from beyond_averages.book.render import main, render, render_fallback

__all__ = ["Book", "Part", "check_book", "load_book", "main", "render", "render_fallback"]
