"""The qualitative chapter's tables, computed sentences and figures (code co-occurrence heatmap, saturation curve),
and the framework matrix of its appendix.

Tables and sentences take the tidy frames of :mod:`beyond_averages.qual.summaries` (or the
:class:`~beyond_averages.qual.analysis.QualitativeAnalysis` holding them); display labels come from
:mod:`beyond_averages.labels`. Figure functions return ``(fig, ax)``; the style is applied by context
(:func:`beyond_averages.style.figure_style`), never at import.
"""

from __future__ import annotations

import os
import textwrap
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm
from matplotlib.ticker import MaxNLocator

from .. import labels
from ..files import write_csv, write_text
from ..qual.model import ROLES, QualData
from ..qual.summaries import role_noun, roles_present, theme_by_deprivation
from ..style import MIN_FONT_PT, OVERALL_COLOUR, PAGE_WIDTH_IN, TREATED_COLOUR, figure_style
from .tables import format_number, format_percent, format_pp, format_ratio, html_table


# -- tables --------------------------------------------------------------------------------------------------------
def framework_matrix_wide(matrix: pd.DataFrame, cell: Literal["cell", "codes", "exemplar"] = "cell") -> pd.DataFrame:
    """Participants (rows: ``participant_id``, ``role``) by themes (columns); each cell is the long form's
    ``cell`` (codes and exemplar), ``codes`` or ``exemplar`` column."""
    if cell not in ("cell", "codes", "exemplar"):
        raise ValueError(f"cell must be 'cell', 'codes' or 'exemplar', not {cell!r}")
    wide = matrix.pivot(index=["participant_id", "role"], columns="theme", values=cell)
    wide = wide[list(dict.fromkeys(matrix["theme"]))]
    order = list(dict.fromkeys(matrix["participant_id"]))
    wide = wide.reset_index()
    # A role key shows as its label; an attributed label (qual.attribution: "GP", "clinical staff") is capitalised.
    wide["role"] = [labels.ROLES.get(r, r[:1].upper() + r[1:]) for r in wide["role"]]
    wide = wide.set_index("participant_id").loc[order].reset_index()
    wide.columns.name = None
    return wide


def write_framework_matrix(matrix: pd.DataFrame, csv_path: str | os.PathLike | None = None,
                           html_path: str | os.PathLike | None = None) -> None:
    """Write the wide framework matrix for the appendix, each file atomically (UTF-8, byte-stable)."""
    wide = framework_matrix_wide(matrix).rename(columns={"participant_id": "Participant", "role": "Role"})
    if csv_path is not None:
        write_csv(wide, csv_path)
    if html_path is not None:
        table = wide.to_html(index=False, escape=True, border=0, na_rep="")
        write_text(html_path, f'<meta charset="utf-8">\n{table}\n')


def theme_summary_display(summary: pd.DataFrame, merge_roles: bool = True,
                          attribution: pd.DataFrame | None = None) -> pd.DataFrame:
    """The theme summary for a page: theme rows keep the theme name and say "All codes"; code rows leave the
    theme blank; the ``level`` column goes.

    With ``merge_roles`` (the default) the ``participants_<role>`` columns become one ``participants_by_role``
    column listing the roles with at least one participant, in role order (``"GP 3, practice nurse 2"``; ``"none"``
    for a code never applied), so the table keeps six columns however many roles took part. With ``attribution``
    (:func:`beyond_averages.qual.attribution.attribute`) the roles are counted under the labels quotes carry
    ("clinical staff 5"), so the table cannot tell which themes a role of one or two participants raised.
    """
    out = summary.copy()
    is_theme = out["level"] == "theme"
    out.loc[is_theme, "code"] = "All codes"
    out.loc[~is_theme, "theme"] = ""
    out = out.drop(columns="level")
    if merge_roles:
        roles = [r for r in ROLES if f"participants_{r}" in out.columns]
        label = (dict(zip(attribution["role"], attribution["attributed_as"])) if attribution is not None else
                 {r: role_noun(r) for r in roles})
        shown = list(dict.fromkeys(label[r] for r in roles))
        out["participants_by_role"] = [
            ", ".join(f"{name} {n}" for name in shown
                      if (n := sum(int(row[f"participants_{r}"]) for r in roles if label[r] == name))) or "none"
            for row in out.to_dict("records")]
        out = out.drop(columns=[f"participants_{r}" for r in roles])
    return out


def exemplar_quotes_display(quotes: pd.DataFrame) -> pd.DataFrame:
    """Quotes for a page: theme (shown once per theme), attribution and quote in curly quotation marks."""
    out = quotes[["theme", "attribution", "quote"]].copy()
    out.loc[out["theme"].duplicated(), "theme"] = ""
    out["quote"] = "“" + out["quote"] + "”"
    return out


# Where codings as recorded outnumber coded passages (several coders, or a code recorded twice on a passage), the
# theme summary carries both counts, and the headers say which is which.
COUNT_HEADERS = {"n_segments": "Coded passages", "n_codings": "Codings"}


def theme_table(summary: pd.DataFrame, attribution: pd.DataFrame | None = None):
    """:func:`theme_summary_display` (roles counted under ``attribution``'s labels when given) as an HTML table
    with the strand's column headers (with an ``n_codings`` column, the two counts are headed "Coded passages" and
    "Codings")."""
    extra = COUNT_HEADERS if "n_codings" in summary.columns else {}
    return html_table(theme_summary_display(summary, attribution=attribution),
                      {**labels.QUALITATIVE_COLUMNS, **extra})


def framework_table(matrix: pd.DataFrame, cell: Literal["cell", "codes", "exemplar"] = "codes"):
    """The wide framework matrix (:func:`framework_matrix_wide`) as an HTML table; the chapter shows the codes."""
    return html_table(framework_matrix_wide(matrix, cell=cell), labels.QUALITATIVE_COLUMNS)


def quotes_table(quotes: pd.DataFrame):
    """:func:`exemplar_quotes_display` as an HTML table with the strand's column headers."""
    return html_table(exemplar_quotes_display(quotes), labels.QUALITATIVE_COLUMNS)


# -- sentences -----------------------------------------------------------------------------------------------------
def overview_sentence(data: QualData) -> str:
    """One sentence saying what was analysed."""
    people = data.participants
    methods = people.drop_duplicates("collection_order")["method"].value_counts()
    parts = [f"{methods.get(m, 0)} {label.lower()}{'s' if methods.get(m, 0) != 1 else ''}"
             for m, label in labels.METHODS.items() if methods.get(m, 0)]
    roles = people["role"].value_counts()
    role_text = ", ".join(f"{n} {role_noun(r, n)}" for r, n in roles.reindex(roles_present(data)).items())
    n_coded = data.codings["segment_id"].nunique()
    book = f"a codebook of {len(data.codebook)} codes in {len(data.themes)} themes"
    head = f"The analysis covers {len(people)} participants ({role_text}) from {', '.join(parts)}: "
    if n_coded == 0:
        return head + f"0 coded passages (the project holds no codings yet) against {book}." + _origin_note(data)
    recorded = len(data.coder_codings)
    codings = (f"{len(data.codings)} codings" if recorded in (0, len(data.codings)) else
               f"{recorded} codings ({len(data.codings)} distinct passage-code pairs"
               + (f", by {len(data.coders)} coders)" if len(data.coders) > 1 else ")"))
    return head + f"{n_coded} coded segments carrying {codings} against {book}." + _origin_note(data)


def _origin_note(data: QualData) -> str:
    """Where the participants came from, when not from a participants table or the project's cases."""
    if data.participants_from == "per_source":
        return (f" The project names no participants, so each of its {len(data.participants)} sources is taken as "
                f"one participant (IDs {data.participants['participant_id'].iloc[0]} to "
                f"{data.participants['participant_id'].iloc[-1]} in source order) whose role is not known.")
    if data.participants_from == "mapping":
        return " Participants and their roles come from a mapping of sources to participants, not from the project."
    return ""


def agreement_display(table: pd.DataFrame, level: str = "passage") -> pd.DataFrame:
    """One level of :func:`beyond_averages.qual.agreement.agreement` for a page: code, units, percentage
    agreement, kappa and alpha to two decimals ("–" where undefined)."""
    rows = table[table["level"] == level]

    def fmt(value, digits: int) -> str:
        return format_number(value, digits)

    return pd.DataFrame({"code": rows["code"], "n_units": rows["n_units"],
                         "percent_agreement": [fmt(v, 1) for v in rows["percent_agreement"]],
                         "cohen_kappa": [fmt(v, 2) for v in rows["cohen_kappa"]],
                         "krippendorff_alpha": [fmt(v, 2) for v in rows["krippendorff_alpha"]]})


def agreement_table(table: pd.DataFrame, level: str = "passage"):
    """:func:`agreement_display` as an HTML table."""
    return html_table(agreement_display(table, level), {**labels.QUALITATIVE_COLUMNS, **AGREEMENT_HEADERS})


AGREEMENT_HEADERS = {"code": "Code", "n_units": "Units compared", "percent_agreement": "Agreement (%)",
                     "cohen_kappa": "Cohen's kappa", "krippendorff_alpha": "Krippendorff's alpha"}
_LEVEL_NAMES = {"passage": "Passages", "character": "Characters"}


def agreement_levels_display(table: pd.DataFrame) -> pd.DataFrame:
    """Both levels of :func:`beyond_averages.qual.agreement.agreement` side by side, one row per code then
    ``All codes``: percentage agreement (1 decimal), Cohen's kappa and Krippendorff's alpha (2 decimals; "–" where
    undefined) at passage level, then at character level. The units compared are in
    :func:`agreement_sentence`."""
    out = pd.DataFrame({"code": list(dict.fromkeys(table["code"]))})
    for level in ("passage", "character"):
        rows = table[table["level"] == level].set_index("code").reindex(out["code"])
        out[f"{level}_percent_agreement"] = [format_number(v, 1) for v in rows["percent_agreement"]]
        out[f"{level}_cohen_kappa"] = [format_ratio(v) for v in rows["cohen_kappa"]]
        out[f"{level}_krippendorff_alpha"] = [format_ratio(v) for v in rows["krippendorff_alpha"]]
    return out


def agreement_levels_table(table: pd.DataFrame):
    """:func:`agreement_levels_display` as an HTML table, headers naming the level ("Passages: agreement (%)")."""
    headers = {"code": "Code"}
    for level, name in _LEVEL_NAMES.items():
        headers.update({f"{level}_percent_agreement": f"{name}: agreement (%)",
                        f"{level}_cohen_kappa": f"{name}: Cohen's kappa",
                        f"{level}_krippendorff_alpha": f"{name}: Krippendorff's alpha"})
    return html_table(agreement_levels_display(table), headers)


def double_coding_sentence(data: QualData) -> str:
    """Who coded what: the sources a second coder coded independently, and which coding the findings use."""
    double = data.double_coding if data.double_coding is not None else data
    coders = double.coders
    if len(coders) < 2:
        return ("One coder coded every source, so agreement between coders is not reported." if coders else
                "The coding does not name its coders, so agreement between coders is not reported.")
    by = double.coder_codings.merge(double.segments[["segment_id", "source"]], on="segment_id")
    shared = sorted(s for s, who in by.groupby("source")["coder"].agg(set).items() if len(who) >= 2)
    n_sources = data.segments["source"].nunique()
    passages = double.segments[double.segments["source"].isin(shared)]
    head = (f"{' and '.join(coders) if len(coders) == 2 else ', '.join(coders)} each coded {len(shared)} of the "
            f"{n_sources} sources ({', '.join(shared)}), {len(passages)} passages between them")
    if data.double_coding is not None:
        first = ", ".join(data.coders) or "the first coder"
        return (f"{head}, independently; the findings above rest on the coding of {first}, and the second coding "
                f"serves only to measure agreement.")
    return f"{head}; the findings above count the passages and codes of every coder."


def agreement_sentence(table: pd.DataFrame) -> str:
    """The overall agreement at each level, or why there is none."""
    overall = table[table["code"] == "All codes"]
    if overall.empty:
        return "Agreement between coders cannot be computed: fewer than two named coders coded the same sources."
    parts = [f"on {format_percent(r['percent_agreement'])} of {format_number(r['n_units'], 0)} {r['level']}-code "
             f"pairs (Krippendorff's alpha {format_ratio(r['krippendorff_alpha'])}"
             + (f", Cohen's kappa {format_ratio(r['cohen_kappa'])})" if pd.notna(r["cohen_kappa"]) else ")")
             for r in overall.to_dict("records")]
    return f"Across all codes, the {int(overall['n_coders'].iloc[0])} coders agreed " + ", and ".join(parts) + "."


def theme_sentence(summary: pd.DataFrame) -> str:
    """Which theme was voiced by most participants, and which by fewest."""
    themes = summary[summary["level"] == "theme"].sort_values(["n_participants", "n_segments"], ascending=False,
                                                             kind="mergesort")
    top, low = themes.iloc[0], themes.iloc[-1]
    return (f"{top['theme']} was the most widely shared theme, raised by {top['n_participants']} participants in "
            f"{top['n_segments']} segments; {low['theme']} was raised by the fewest ({low['n_participants']} "
            f"participants, {low['n_segments']} segments).")


def saturation_sentence(curve: pd.DataFrame) -> str:
    """Where the last new code appeared and how many events followed without one: a statement about the codebook
    as a whole, never about a role (saturation within roles: :mod:`.qual_theory`)."""
    total = len(curve)
    new_events = curve.loc[curve["new_codes"] > 0, "event"]
    if new_events.empty:
        return "No codes were applied, so saturation cannot be judged."
    last = int(new_events.max())
    after = total - last
    n_codes = int(curve["cumulative_codes"].iloc[-1])
    tail = (f"the remaining {after} event{'s' if after != 1 else ''} added no new code to the study as a whole, "
            f"which says nothing about saturation within a role" if after else
            "the final event still added codes, so saturation was not reached")
    return (f"All {n_codes} codes applied had appeared by data-collection event {last} of {total}; {tail}.")


def deprivation_paragraph(data: QualData, codes: list[str]) -> str:
    """:func:`deprivation_sentence` for each code (theme looked up in the codebook), joined as one paragraph."""
    table = theme_by_deprivation(data, level="code")
    theme_of = dict(zip(data.codebook["code"], data.codebook["theme"]))
    unknown = [c for c in codes if c not in theme_of]
    if unknown:
        raise ValueError(f"code(s) {', '.join(map(repr, unknown))} are not in the codebook")
    return " ".join(deprivation_sentence(table, theme_of[c], c) for c in codes)


def deprivation_sentence(table: pd.DataFrame, theme: str, code: str | None = None) -> str:
    """Compare the most and least deprived bands for one theme (or one code, with ``table`` at code level)."""
    rows = table[table["theme"] == theme]
    if code is not None:
        rows = rows[rows["code"] == code]
    if rows.empty:
        raise ValueError(f"{code or theme!r} is not in the table")
    by = rows.set_index("band")
    name = code or theme
    parts = []
    for band in ("most_deprived", "least_deprived"):
        if band in by.index:
            parts.append(f"{by.loc[band, 'n_participants']} of {by.loc[band, 'n_band']} participants working in "
                         f"the {labels.DEPRIVATION_BANDS[band]} areas")
    if len(parts) < 2:
        return f"'{name}' cannot be compared across deprivation bands: one band has no participant."
    gap = by.loc["most_deprived", "share"] - by.loc["least_deprived", "share"]
    meaning = ("more often where deprivation is highest" if gap > 0 else
               "more often where deprivation is lowest" if gap < 0 else "equally often in both")
    return (f"'{name}' was raised by {parts[0]} and by {parts[1]}: it was voiced {meaning} "
            f"({format_pp(abs(gap) * 100)} percentage points apart; small numbers, to be read as a pattern to explore, "
            f"not an estimate).")


# -- figures -------------------------------------------------------------------------------------------------------
def _wrap(label: str, width: int = 24) -> str:
    return "\n".join(textwrap.wrap(str(label), width)) or str(label)


def plot_co_occurrence(matrix: pd.DataFrame, *, title: str | None = None, show_diagonal: bool = False):
    """Heatmap of :func:`beyond_averages.qual.summaries.co_occurrence`, each cell annotated with its count.

    The table is symmetric, so only its lower triangle is drawn. Without ``show_diagonal`` (the default) the
    diagonal (segments per code) is left out, being on another scale that would wash out the pairs, which are the
    point of the figure: rows are then the 2nd..last code and columns the 1st..second-to-last, so no row or column
    is empty. With ``show_diagonal`` all codes are rows and columns and the diagonal is drawn. Colours are one step
    per count; the colour bar sits against the heatmap.
    """
    values = matrix.to_numpy(dtype=float)
    n = values.shape[0]
    offset = 0 if show_diagonal else 1
    rows, cols = list(matrix.index[offset:]), list(matrix.columns[: n - offset])
    shown = values[offset:, : n - offset].copy()
    m = len(rows)
    lower = np.tril(np.ones((m, m), dtype=bool))  # row i (code i + offset) against columns 0..i + offset - offset
    shown[~lower] = np.nan
    top = int(np.nanmax(shown)) if m and np.isfinite(shown).any() else 0
    cmap = plt.get_cmap("Blues", max(top, 1) + 1)
    norm = BoundaryNorm(np.arange(-0.5, max(top, 1) + 1.5), cmap.N)
    with figure_style():
        # As wide as the page at most (so never shown scaled down), text at the book's minimum size or more.
        size = min(PAGE_WIDTH_IN - 0.8, max(3.5, 0.32 * m + 2.2))
        fig, ax = plt.subplots(figsize=(size + 0.8, size))
        image = ax.imshow(shown, cmap=cmap, norm=norm)
        ax.grid(False)
        for (i, j), value in np.ndenumerate(shown):
            if lower[i, j]:
                ax.text(j, i, str(int(value)), ha="center", va="center", fontsize=MIN_FONT_PT,
                        color="white" if value > 0.6 * max(top, 1) else ("#999999" if value == 0 else OVERALL_COLOUR))
        ax.set_xticks(range(m), [_wrap(c) for c in cols], rotation=90, fontsize=MIN_FONT_PT)
        ax.set_yticks(range(m), [_wrap(c) for c in rows], fontsize=MIN_FONT_PT)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        # The colour bar in the empty upper-right triangle, against the heatmap rather than at the figure's edge
        # (beside it when the triangle is too small to hold it).
        cax = ax.inset_axes((0.72, 0.55, 0.04, 0.4) if m >= 3 else (1.05, 0.1, 0.05, 0.8))
        bar = fig.colorbar(image, cax=cax, ticks=MaxNLocator(integer=True, nbins=6))
        bar.set_label("Segments coded with both" + (" (diagonal: with the code)" if show_diagonal else ""),
                      fontsize=MIN_FONT_PT)
        bar.ax.tick_params(labelsize=MIN_FONT_PT)
        if title:
            ax.set_title(title)
    return fig, ax


def plot_saturation(curve: pd.DataFrame, *, title: str | None = None):
    """Cumulative codes (line) and new codes (bars) by data-collection event, with the event's method as tick
    label; the last event that added a code is marked."""
    with figure_style():
        fig, ax = plt.subplots()
        x = curve["event"].to_numpy()
        ax.bar(x, curve["new_codes"], color="#9ecae1", label="New codes at this event")
        ax.plot(x, curve["cumulative_codes"], marker="o", color=OVERALL_COLOUR, label="Codes so far")
        new = curve.loc[curve["new_codes"] > 0, "event"]
        if len(new):
            ax.axvline(new.max() + 0.5, color=TREATED_COLOUR, linestyle="--", linewidth=1,
                       label="After this, no new code")
        ticks = [f"{e}\n{p}" for e, p in zip(curve["event"], curve["participants"].str.replace("; ", "\n"))]
        ax.set_xticks(x, ticks, fontsize=MIN_FONT_PT)
        ax.set_xlabel("Data-collection event (participants), in collection order")
        ax.set_ylabel("Codes")
        ax.set_ylim(0, max(1, int(curve["cumulative_codes"].max())) * 1.1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="lower right")
        if title:
            ax.set_title(title)
    return fig, ax
