"""The qualitative chapter's theory: the thematic map, its narrative, how quotes are attributed, and saturation
within each role.

Inputs are the tidy frames of :mod:`beyond_averages.qual.theory`, :mod:`beyond_averages.qual.attribution` and
:mod:`beyond_averages.qual.role_saturation` (all held by
:class:`~beyond_averages.qual.analysis.QualitativeAnalysis`). Every number in a sentence is read from them.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from ..qual.attribution import MIN_GROUP_SIZE, PARTICIPANT
from ..qual.role_saturation import NOT_ASSESSABLE
from ..qual.summaries import role_noun
from ..qual.theory import RELATIONS, STRONG_PARTICIPANTS, UNDIRECTED, relation_support, unrelated_strong_pairs
from ..style import MIN_FONT_PT, OVERALL_COLOUR, PAGE_WIDTH_IN, figure_style
from .tables import format_count, html_table

# How each relation word is drawn: colour, line style, arrow style (both heads: no direction).
RELATION_STYLE = {
    "enables": ("#1b7837", "-", "-|>"),
    "constrains": ("#b2182b", "--", "-|>"),
    "leads to": ("#2166ac", "-", "-|>"),
    "tension with": ("#b06a00", ":", "<|-|>"),
}
VERBS = {"enables": "enables", "constrains": "constrains", "leads to": "leads to", "tension with": "is in tension with"}
CO_OCCURRENCE_COLOUR = "#c8c8c8"
NODE_RADIUS_PT = 9.0


def _plural(n: int, word: str) -> str:
    return f"{format_count(n)} {word}{'' if n == 1 else 's'}"


def _named(theme: str) -> str:
    return f"‘{theme}’"


# -- the thematic map ------------------------------------------------------------------------------------------
def theme_positions(themes: list[str]) -> dict[str, tuple[float, float]]:
    """Themes on the unit circle in codebook order, the first at the top, clockwise: the same map on every run."""
    n = len(themes)
    return {t: (math.cos(math.pi / 2 - 2 * math.pi * i / n), math.sin(math.pi / 2 - 2 * math.pi * i / n))
            for i, t in enumerate(themes)}


def co_occurrence_width(n_passages: int) -> float:
    """Line width (points) of a pair of themes that share ``n_passages`` passages."""
    return 1.0 + 1.5 * n_passages


def _outward(start: tuple[float, float], end: tuple[float, float]) -> int:
    """The sign of matplotlib's ``arc3`` bend that bows the arrow away from the circle's centre (arc3 moves the
    control point by ``rad * (dy, -dx)``), so arrows keep off the co-occurrence lines crossing the middle."""
    (x0, y0), (x1, y1) = start, end
    mid_x, mid_y = (x0 + x1) / 2, (y0 + y1) / 2
    return 1 if (y1 - y0) * mid_x - (x1 - x0) * mid_y >= 0 else -1


def plot_thematic_map(relations: pd.DataFrame, pairs: pd.DataFrame, themes: list[str], *, title: str | None = None):
    """The thematic map: themes as labelled nodes on a circle; the analyst's relations as curved arrows (colour and
    line style by relation word, both heads for "tension with"); the passages two themes share as a straight grey
    line whose width grows with their number (none drawn for pairs that share no passage). Returns ``(fig, ax)``."""
    position = theme_positions(themes)
    with figure_style():
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 5.6))
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_xlim(-2.0, 2.0)
        ax.set_ylim(-1.45, 1.35)
        shared = pairs[pairs["n_passages"] > 0]
        for pair in shared.to_dict("records"):
            (x0, y0), (x1, y1) = position[pair["theme_a"]], position[pair["theme_b"]]
            ax.plot([x0, x1], [y0, y1], color=CO_OCCURRENCE_COLOUR, linewidth=co_occurrence_width(pair["n_passages"]),
                    solid_capstyle="round", zorder=1)
        drawn = set()
        for relation in relations.to_dict("records"):
            colour, style, arrow = RELATION_STYLE[relation["relation"]]
            start, end = position[relation["from_theme"]], position[relation["to_theme"]]
            # The second arrow of a loop (B to A after A to B) bows inwards, so the two stay apart.
            bend = -1 if (relation["to_theme"], relation["from_theme"]) in drawn else 1
            drawn.add((relation["from_theme"], relation["to_theme"]))
            ax.add_patch(FancyArrowPatch(
                start, end, arrowstyle=arrow, connectionstyle=f"arc3,rad={bend * _outward(start, end) * 0.22}",
                color=colour, linestyle=style, linewidth=1.8, mutation_scale=16,
                shrinkA=NODE_RADIUS_PT + 3, shrinkB=NODE_RADIUS_PT + 3, zorder=2))
        for theme, (x, y) in position.items():
            ax.plot([x], [y], marker="o", markersize=2 * NODE_RADIUS_PT, color="white", markeredgecolor=OVERALL_COLOUR,
                    markeredgewidth=1.5, zorder=3)
            ha = "left" if x > 0.3 else "right" if x < -0.3 else "center"
            va = "bottom" if y > 0.3 else "top" if y < -0.3 else "center"
            ax.text(x * 1.14, y * 1.14, "\n".join(textwrap.wrap(theme, 18)), ha=ha, va=va, fontsize=MIN_FONT_PT + 1,
                    color=OVERALL_COLOUR, zorder=4)
        handles = [Line2D([], [], color=RELATION_STYLE[r][0], linestyle=RELATION_STYLE[r][1], linewidth=1.8,
                          label=f"{r} (analyst)" + (", both ways" if r in UNDIRECTED else ""))
                   for r in RELATIONS if r in set(relations["relation"])]
        if len(shared):
            for n in sorted({int(shared["n_passages"].min()), int(shared["n_passages"].max())}):
                handles.append(Line2D([], [], color=CO_OCCURRENCE_COLOUR, linewidth=co_occurrence_width(n),
                                      label=f"{_plural(n, 'shared passage')}"))
        if handles:
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=MIN_FONT_PT,
                      handlelength=2.6)
        if title:
            ax.set_title(title)
    return fig, ax


# -- the narrative ---------------------------------------------------------------------------------------------
def relation_sentence(row: dict) -> str:
    """One relation and what the coded data say about it."""
    rationale = row["rationale"].rstrip()
    rationale = rationale if rationale.endswith((".", "!", "?")) else rationale + "."
    if row["n_passages"]:
        support = (f"the two themes co-occur in {_plural(row['n_passages'], 'passage')} from "
                   f"{_plural(row['n_participants'], 'participant')}")
    else:
        support = (f"no passage carries both themes, though both appear in the accounts of "
                   f"{_plural(row['n_accounts'], 'participant')}")
    return (f"{_named(row['from_theme'])} {VERBS[row['relation']]} {_named(row['to_theme'])} (analyst's relation; "
            f"{support}): {rationale}")


def map_flags_sentence(support: pd.DataFrame, unrelated: pd.DataFrame,
                       min_participants: int = STRONG_PARTICIPANTS) -> str:
    """Relations no passage supports, and pairs co-occurring in passages from ``min_participants`` or more
    participants that have no stated relation."""
    parts = []
    weak = support[~support["supported"]]
    if len(weak):
        named = "; ".join(f"{_named(r['from_theme'])} {VERBS[r['relation']]} {_named(r['to_theme'])}"
                          for r in weak.to_dict("records"))
        which = ("the relation" if len(support) == 1 else
                 f"any of the {format_count(len(support))} relations" if len(weak) == len(support) else
                 f"{format_count(len(weak))} of the {format_count(len(support))} relations")
        rest = "it rests" if len(weak) == 1 else "they rest"
        parts.append(f"No passage supports {which} ({named}): {rest} on the analyst's reading across accounts, and "
                     f"{'is' if len(weak) == 1 else 'are'} the first to test in further data.")
    elif len(support):
        parts.append("The relation is supported by at least one passage that carries both themes."
                     if len(support) == 1 else
                     f"All {format_count(len(support))} relations are supported by at least one passage that carries "
                     f"both themes.")
    threshold = f"passages from at least {_plural(min_participants, 'participant')}"
    if len(unrelated):
        named = "; ".join(f"{_named(r['theme_a'])} and {_named(r['theme_b'])} "
                          f"({_plural(r['n_passages'], 'passage')}, {_plural(r['n_participants'], 'participant')})"
                          for r in unrelated.to_dict("records"))
        parts.append(f"Themes that co-occur in {threshold} but have no stated relation: {named}.")
    else:
        parts.append(f"Every pair of themes that co-occurs in {threshold} has a stated relation.")
    return " ".join(parts)


def map_paragraph(relations: pd.DataFrame, pairs: pd.DataFrame, min_participants: int = STRONG_PARTICIPANTS) -> str:
    """The narrative of the map from the analyst's ``relations`` and the co-occurrence of every pair of themes
    (``pairs``): one sentence per relation (file order), then :func:`map_flags_sentence`."""
    support = relation_support(relations, pairs)
    unrelated = unrelated_strong_pairs(relations, pairs, min_participants)
    if support.empty:
        head = "No relations between themes have been stated yet, so the map shows co-occurrence only."
        return head + " " + map_flags_sentence(support, unrelated, min_participants)
    return " ".join([relation_sentence(r) for r in support.to_dict("records")]
                    + [map_flags_sentence(support, unrelated, min_participants)])


# -- attribution -----------------------------------------------------------------------------------------------
def attribution_sentence(attribution: pd.DataFrame) -> str:
    """How quotes are attributed, and which roles are shown under a broader label (never which participant)."""
    head = (f"Quotes and the framework matrix name each participant by pseudonym and by role where at least "
            f"{MIN_GROUP_SIZE} participants share the role.")
    people = attribution.drop_duplicates("role")
    moved = people[people["attributed_as"] != people["role"].map(role_noun)]
    if moved.empty:
        return head + " Every role has enough participants to be shown as itself."
    parts = []
    for label, group in moved.groupby("attributed_as", sort=False):
        roles = _and([role_noun(r, int((attribution["role"] == r).sum())) for r in group["role"]])
        n = int(group["n_behind"].iloc[0])
        small = f"; a group of fewer than {MIN_GROUP_SIZE} is not named" if label == PARTICIPANT else ""
        parts.append(f"“{label}” stands for the {roles} ({_plural(n, 'participant')}{small})")
    return head + " So that no one can be picked out by a role few share, quotes use broader labels: " + \
        "; ".join(parts) + "."


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# -- saturation within roles -----------------------------------------------------------------------------------
SATURATION_HEADERS = {"unit": "Role or merged group", "roles": "Roles", "n_participants": "Participants",
                      "n_events": "Events", "new_codes_by_event": "New codes at each event",
                      "n_codes": "Codes", "last_event_new": "Last event added codes", "judgement": "Judgement"}


def role_saturation_display(table: pd.DataFrame) -> pd.DataFrame:
    """The saturation table for a page: empty cells where a unit is not assessable, yes/no for the last event."""
    out = table.drop(columns="events_without_new").copy()
    out["unit"] = [u[:1].upper() + u[1:] for u in out["unit"]]
    out["n_codes"] = [format_count(v) if pd.notna(v) else "" for v in out["n_codes"]]
    out["last_event_new"] = ["" if pd.isna(v) else "yes" if v else "no" for v in out["last_event_new"]]
    return out


def role_saturation_table(table: pd.DataFrame):
    """:func:`role_saturation_display` as an HTML table."""
    return html_table(role_saturation_display(table), SATURATION_HEADERS)


def role_saturation_sentence(table: pd.DataFrame) -> str:
    """Saturation judged within each unit of at least three participants; no claim for the others."""
    assessable = table[table["judgement"] != NOT_ASSESSABLE]
    parts = []
    for r in assessable.to_dict("records"):
        who = (f"{r['unit']} ({_plural(r['n_participants'], 'participant')}, "
               f"{_plural(r['n_events'], 'event')})")
        if not r["n_codes"]:
            parts.append(f"not judged for {who}, whose accounts carry no code")
        elif r["last_event_new"]:
            parts.append(f"not reached for {who}, whose last event still added codes")
        else:
            quiet = int(r["events_without_new"])
            last = "last event" if quiet == 1 else f"last {quiet} events"
            parts.append(f"suggested for {who}, whose {last} of {format_count(r['n_events'])} added no new code")
    text = ("Within roles, saturation is judged only where at least "
            f"{_plural(MIN_GROUP_SIZE, 'participant')} share a role (or a merged group of roles)")
    text += (": it was " + "; ".join(parts) + "." if parts else ", and no role or group here has that many.")
    closed = table[table["judgement"] == NOT_ASSESSABLE]
    if len(closed):
        names = _and([f"{r['unit']} ({_plural(r['n_participants'], 'participant')})"
                      for r in closed.to_dict("records")])
        text += f" It is not assessable for {names}, and no claim of saturation is made for them."
    return text
