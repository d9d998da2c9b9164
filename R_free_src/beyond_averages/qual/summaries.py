"""Summaries of coded data for a qualitative chapter: theme counts, framework matrix, exemplar quotes,
code co-occurrence, saturation, and themes by the deprivation of the participant's practice or area.

Counting rules (the same in every table):

- A participant "has" a code (or theme) if at least one of their segments is coded with it (with any code of the
  theme). ``n_participants`` counts such participants; ``n_segments`` counts distinct segments, so a segment coded
  with two codes of one theme counts once for the theme.
- Nothing here depends on segment IDs or on row order: segments are ordered by data-collection order, participant,
  source, start position and text, so a CSV project and the same project read back from REFI-QDA give the same
  tables and the same exemplar quotes.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pandas as pd

from ..files import write_csv, write_text
from .model import ROLE_LABELS, ROLES, QualData

Level = Literal["code", "theme"]

# Deprivation bands of the participant's practice or area, from the one IMD quintile definition
# (beyond_averages.deprivation: 1 = most deprived). Fourteen-odd participants cannot support five quintiles.
DEPRIVATION_BANDS = {1: "most_deprived", 2: "most_deprived", 3: "middle", 4: "least_deprived", 5: "least_deprived"}
BAND_ORDER = ("most_deprived", "middle", "least_deprived", "not_known")
BAND_LABELS = {"most_deprived": "most deprived (IMD Q1-Q2)", "middle": "middle (IMD Q3)",
               "least_deprived": "least deprived (IMD Q4-Q5)", "not_known": "national role or not known"}

# Display labels for the tables of this strand (data keep tidy names; report.tables.html_table shows these).
TABLE_LABELS = {
    "level": "Level", "theme": "Theme", "code": "Code", "definition": "Definition",
    "n_participants": "Participants", "n_segments": "Segments", "participant_id": "Participant",
    "role": "Role", "method": "Method", "attribution": "Attributed to", "quote": "Quote", "codes": "Codes",
    "rank": "Rank", "event": "Event", "participants": "Participants", "new_codes": "New codes",
    "cumulative_codes": "Codes so far", "new_code_names": "Codes first seen",
    "participants_by_role": "Participants by role",
    **{f"participants_{role}": label if label.endswith("s") else f"{label}s" for role, label in ROLE_LABELS.items()},
}

DEFAULT_SEED = 20240917


def role_noun(role: str, n: int = 1) -> str:
    """'GP', 'practice nurse'; plural when ``n`` is not 1 ('GPs', 'practice nurses')."""
    label = ROLE_LABELS[role] if role == "gp" else ROLE_LABELS[role].lower()
    return label if n == 1 else f"{label}s"


def _ordered_segments(data: QualData) -> pd.DataFrame:
    segs = data.segments.merge(data.participants, on="participant_id", how="left")
    segs = segs.assign(_start=segs["start"].fillna(-1).astype("int64"))
    return segs.sort_values(["collection_order", "participant_id", "source", "_start", "text"],
                            kind="mergesort").drop(columns="_start").reset_index(drop=True)


def _coded(data: QualData) -> pd.DataFrame:
    return data.coded_segments()


def _roles_present(data: QualData) -> list[str]:
    present = set(data.participants["role"])
    return [r for r in ROLES if r in present]


def theme_summary(data: QualData) -> pd.DataFrame:
    """One row per theme followed by one row per code of it, in codebook order.

    Columns: ``level`` (``theme``/``code``), ``theme``, ``code`` (empty on theme rows), ``definition``,
    ``n_participants``, ``n_segments``, and ``participants_<role>`` for each role present (participants of that role
    with the theme or code). Codes never applied appear with zeros.
    """
    coded = _coded(data)
    roles = _roles_present(data)
    rows = []
    for theme, book in data.codebook.groupby("theme", sort=False):
        units = [("theme", "", book["theme_definition"].iloc[0], coded[coded["theme"] == theme])]
        units += [("code", code, definition, coded[coded["code"] == code])
                  for code, definition in zip(book["code"], book["definition"])]
        for level, code, definition, hits in units:
            row = {"level": level, "theme": theme, "code": code, "definition": definition,
                   "n_participants": hits["participant_id"].nunique(), "n_segments": hits["segment_id"].nunique()}
            for role in roles:
                row[f"participants_{role}"] = hits.loc[hits["role"] == role, "participant_id"].nunique()
            rows.append(row)
    return pd.DataFrame(rows)


def counts_by_role(data: QualData, level: Level = "theme") -> pd.DataFrame:
    """Long table: ``theme`` (and ``code``), ``role``, ``n_participants``, ``n_segments``, ``n_role`` (participants
    of that role in the study), every combination present, zeros included."""
    coded = _coded(data)
    keys = ["theme"] if level == "theme" else ["theme", "code"]
    units = data.codebook[keys].drop_duplicates()
    roles = pd.DataFrame({"role": _roles_present(data)})
    grid = units.merge(roles, how="cross")
    counts = (coded.groupby(keys + ["role"]).agg(n_participants=("participant_id", "nunique"),
                                                 n_segments=("segment_id", "nunique")).reset_index())
    out = grid.merge(counts, on=keys + ["role"], how="left").fillna({"n_participants": 0, "n_segments": 0})
    out["n_role"] = out["role"].map(data.participants["role"].value_counts())
    return out.astype({"n_participants": "int64", "n_segments": "int64", "n_role": "int64"})


def _truncate(text: str, max_chars: int) -> str:
    """Cut at the last word boundary before ``max_chars`` and mark the cut with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if text[max_chars - 1] != " ":  # the cut fell inside a word: drop the partial word
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def framework_matrix(data: QualData, max_chars: int = 160) -> pd.DataFrame:
    """The framework-method matrix in long form: one row per participant and theme (all pairs).

    ``codes`` lists the theme's codes applied to the participant (codebook order, segment count in brackets when
    above one); ``exemplar`` is the participant's first segment on the theme in document order, cut to
    ``max_chars``; ``cell`` joins the two, as a cell of the charted matrix. Empty cells have ``n_segments`` 0.
    """
    coded = _coded(data)
    order = _ordered_segments(data)[["segment_id"]].reset_index(names="_order")
    coded = coded.merge(order, on="segment_id").sort_values("_order", kind="mergesort")
    code_rank = {c: i for i, c in enumerate(data.codebook["code"])}
    people = data.participants.sort_values(["collection_order", "participant_id"], kind="mergesort")
    rows = []
    for person in people.to_dict("records"):
        mine = coded[coded["participant_id"] == person["participant_id"]]
        for theme in data.themes:
            hits = mine[mine["theme"] == theme]
            counts = hits.groupby("code")["segment_id"].nunique()
            codes = "; ".join(f"{c} ({counts[c]})" if counts[c] > 1 else c
                              for c in sorted(counts.index, key=code_rank.get))
            exemplar = _truncate(hits["text"].iloc[0], max_chars) if len(hits) else ""
            cell = f"{codes}: “{exemplar}”" if codes else ""
            rows.append({"participant_id": person["participant_id"], "role": person["role"],
                         "method": person["method"], "theme": theme, "n_segments": hits["segment_id"].nunique(),
                         "codes": codes, "exemplar": exemplar, "cell": cell})
    return pd.DataFrame(rows)


def framework_matrix_wide(matrix: pd.DataFrame, cell: Literal["cell", "codes", "exemplar"] = "cell") -> pd.DataFrame:
    """Participants (rows: ``participant_id``, ``role``) by themes (columns); each cell is the long form's
    ``cell`` (codes and exemplar), ``codes`` or ``exemplar`` column."""
    if cell not in ("cell", "codes", "exemplar"):
        raise ValueError(f"cell must be 'cell', 'codes' or 'exemplar', not {cell!r}")
    wide = matrix.pivot(index=["participant_id", "role"], columns="theme", values=cell)
    wide = wide[list(dict.fromkeys(matrix["theme"]))]
    order = list(dict.fromkeys(matrix["participant_id"]))
    wide = wide.reset_index()
    wide["role"] = wide["role"].map(ROLE_LABELS)
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


def theme_summary_display(summary: pd.DataFrame, merge_roles: bool = True) -> pd.DataFrame:
    """The theme summary for a page: theme rows keep the theme name and say "All codes"; code rows leave the
    theme blank; the ``level`` column goes.

    With ``merge_roles`` (the default) the ``participants_<role>`` columns become one ``participants_by_role``
    column listing the roles with at least one participant, in role order (``"GP 3, practice nurse 2"``; ``"none"``
    for a code never applied), so the table keeps six columns however many roles took part.
    """
    out = summary.copy()
    is_theme = out["level"] == "theme"
    out.loc[is_theme, "code"] = "All codes"
    out.loc[~is_theme, "theme"] = ""
    out = out.drop(columns="level")
    if merge_roles:
        roles = [r for r in ROLES if f"participants_{r}" in out.columns]
        out["participants_by_role"] = [
            ", ".join(f"{role_noun(r)} {n}" for r in roles if (n := int(row[f"participants_{r}"]))) or "none"
            for row in out.to_dict("records")]
        out = out.drop(columns=[f"participants_{r}" for r in roles])
    return out


def exemplar_quotes(data: QualData, per_theme: int = 2, seed: int = DEFAULT_SEED, min_chars: int = 40,
                    max_chars: int = 320) -> pd.DataFrame:
    """Exemplar quotes per theme, chosen by a fixed rule and attributed by pseudonym and role only.

    Rule: (1) candidates are the theme's segments whose text has ``min_chars``..``max_chars`` characters (all of
    the theme's segments if none does); (2) they are put in the canonical order (collection order, participant,
    source, start, text) and shuffled with ``numpy.random.default_rng([seed, theme_index])``; (3) walking the
    shuffled list, a quote is taken if its participant's role is not yet quoted for the theme, then (second pass)
    if the participant is not yet quoted, then (third pass) any; (4) stop at ``per_theme`` quotes. A segment coded
    under several themes is the exemplar of one only: themes are filled in codebook order, and the three passes
    first skip segments already quoted for an earlier theme, repeating one only when the theme has no other
    candidate left. Same seed, same quotes; a different seed draws another defensible set.
    """
    if per_theme < 1:
        raise ValueError("per_theme must be at least 1")
    coded = _coded(data)
    order = _ordered_segments(data)[["segment_id"]].reset_index(names="_order")
    rows = []
    quoted: set[str] = set()  # segments already an exemplar of an earlier theme
    for t, theme in enumerate(data.themes):
        hits = coded[coded["theme"] == theme]
        codes = hits.groupby("segment_id")["code"].agg(lambda s: "; ".join(sorted(set(s))))
        segs = (hits.drop_duplicates("segment_id").merge(order, on="segment_id").sort_values("_order")
                .reset_index(drop=True))
        if segs.empty:
            continue
        length = segs["text"].str.len()
        pool = segs[(length >= min_chars) & (length <= max_chars)]
        pool = segs if pool.empty else pool.reset_index(drop=True)
        shuffled = pool.iloc[np.random.default_rng([seed, t]).permutation(len(pool))]
        chosen, roles, people = [], set(), set()
        spread = (lambda r: r["role"] not in roles, lambda r: r["participant_id"] not in people, lambda r: True)
        for reuse in (False, True):
            for test in spread:
                for r in shuffled.to_dict("records"):
                    if len(chosen) == per_theme:
                        break
                    if (r["segment_id"] not in {c["segment_id"] for c in chosen} and test(r)
                            and (reuse or r["segment_id"] not in quoted)):
                        chosen.append(r)
                        roles.add(r["role"])
                        people.add(r["participant_id"])
        quoted.update(c["segment_id"] for c in chosen)
        for rank, r in enumerate(chosen, start=1):
            rows.append({"theme": theme, "rank": rank, "participant_id": r["participant_id"], "role": r["role"],
                         "attribution": f"{r['participant_id']}, {role_noun(r['role'])}",
                         "codes": codes[r["segment_id"]], "quote": " ".join(r["text"].split())})
    return pd.DataFrame(rows, columns=["theme", "rank", "participant_id", "role", "attribution", "codes", "quote"])


def exemplar_quotes_display(quotes: pd.DataFrame) -> pd.DataFrame:
    """Quotes for a page: theme (shown once per theme), attribution and quote in curly quotation marks."""
    out = quotes[["theme", "attribution", "quote"]].copy()
    out.loc[out["theme"].duplicated(), "theme"] = ""
    out["quote"] = "“" + out["quote"] + "”"
    return out


def co_occurrence(data: QualData, level: Level = "code") -> pd.DataFrame:
    """Square table: the number of segments coded with both row and column code (or theme).

    The diagonal holds the number of segments coded with the code (theme). Rows and columns follow codebook order;
    codes never applied are kept, with zeros.
    """
    coded = _coded(data)
    names = list(data.codebook["code"]) if level == "code" else data.themes
    indicator = (pd.crosstab(coded["segment_id"], coded[level]).reindex(columns=names, fill_value=0) > 0)
    matrix = indicator.T.astype("int64") @ indicator.astype("int64")
    matrix.index.name, matrix.columns.name = level, level
    return matrix


def saturation_curve(data: QualData) -> pd.DataFrame:
    """New codes by data-collection event, in collection order.

    One row per event (``collection_order``; a focus group or case study is one event however many take part):
    ``event`` (1, 2, ...), ``collection_order``, ``participants`` (IDs joined by ``;``), ``method``,
    ``n_segments``, ``new_codes`` (codes first applied at this event), ``cumulative_codes`` and
    ``new_code_names``. Events with no coded segment still appear (with zero new codes).
    """
    coded = _coded(data)
    seen: set[str] = set()
    rows = []
    for event, (order, people) in enumerate(data.participants.groupby("collection_order", sort=True), start=1):
        ids = sorted(people["participant_id"])
        here = coded[coded["participant_id"].isin(ids)]
        new = [c for c in data.codebook["code"] if c in set(here["code"]) and c not in seen]
        seen.update(new)
        rows.append({"event": event, "collection_order": int(order), "participants": "; ".join(ids),
                     "method": people["method"].iloc[0], "n_segments": here["segment_id"].nunique(),
                     "new_codes": len(new), "cumulative_codes": len(seen), "new_code_names": "; ".join(new)})
    return pd.DataFrame(rows)


def theme_by_deprivation(data: QualData, level: Level = "theme") -> pd.DataFrame:
    """Participants voicing each theme (code) by the deprivation band of their practice or area.

    Columns: ``theme`` (and ``code``), ``band`` (see :data:`DEPRIVATION_BANDS`; ``not_known`` for national roles),
    ``n_band`` (participants in the band), ``n_participants`` (of them, those with the theme), ``share``
    (``n_participants / n_band``). Bands with no participant are left out.
    """
    coded = _coded(data)
    people = data.participants.assign(
        band=data.participants["imd_quintile"].map(DEPRIVATION_BANDS).fillna("not_known").astype(str))
    keys = ["theme"] if level == "theme" else ["theme", "code"]
    bands = [b for b in BAND_ORDER if b in set(people["band"])]
    band_n = people["band"].value_counts()
    band_of = dict(zip(people["participant_id"], people["band"]))
    rows = []
    for unit in data.codebook[keys].drop_duplicates().to_dict("records"):
        hits = coded
        for k in keys:
            hits = hits[hits[k] == unit[k]]
        voiced = {p for p in hits["participant_id"]}
        for band in bands:
            n = sum(1 for p in voiced if band_of[p] == band)
            rows.append({**unit, "band": band, "n_band": int(band_n[band]), "n_participants": n,
                         "share": n / int(band_n[band])})
    return pd.DataFrame(rows)


def overview_sentence(data: QualData) -> str:
    """One sentence saying what was analysed."""
    people, segs = data.participants, data.segments
    methods = people.drop_duplicates("collection_order")["method"].value_counts()
    parts = [f"{methods.get(m, 0)} {label.lower()}{'s' if methods.get(m, 0) != 1 else ''}"
             for m, label in (("interview", "Interview"), ("focus_group", "Focus group"), ("case_study", "Case study"))
             if methods.get(m, 0)]
    roles = people["role"].value_counts()
    role_text = ", ".join(f"{n} {role_noun(r, n)}" for r, n in roles.reindex(_roles_present(data)).items())
    n_coded = data.codings["segment_id"].nunique()
    return (f"The analysis covers {len(people)} participants ({role_text}) from {', '.join(parts)}: "
            f"{n_coded} coded segments carrying {len(data.codings)} codings against a codebook of "
            f"{len(data.codebook)} codes in {len(data.themes)} themes.")


def theme_sentence(summary: pd.DataFrame) -> str:
    """Which theme was voiced by most participants, and which by fewest."""
    themes = summary[summary["level"] == "theme"].sort_values(["n_participants", "n_segments"], ascending=False,
                                                             kind="mergesort")
    top, low = themes.iloc[0], themes.iloc[-1]
    return (f"{top['theme']} was the most widely shared theme, raised by {top['n_participants']} participants in "
            f"{top['n_segments']} segments; {low['theme']} was raised by the fewest ({low['n_participants']} "
            f"participants, {low['n_segments']} segments).")


def saturation_sentence(curve: pd.DataFrame) -> str:
    """Where the last new code appeared and how many events followed without one."""
    total = len(curve)
    new_events = curve.loc[curve["new_codes"] > 0, "event"]
    if new_events.empty:
        return "No codes were applied, so saturation cannot be judged."
    last = int(new_events.max())
    after = total - last
    n_codes = int(curve["cumulative_codes"].iloc[-1])
    tail = (f"the remaining {after} event{'s' if after != 1 else ''} added no new code, which suggests the codebook "
            f"was saturated for these roles and settings" if after else
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
                         f"the {BAND_LABELS[band]} areas")
    if len(parts) < 2:
        return f"'{name}' cannot be compared across deprivation bands: one band has no participant."
    gap = by.loc["most_deprived", "share"] - by.loc["least_deprived", "share"]
    meaning = ("more often where deprivation is highest" if gap > 0 else
               "more often where deprivation is lowest" if gap < 0 else "equally often in both")
    return (f"'{name}' was raised by {parts[0]} and by {parts[1]}: it was voiced {meaning} "
            f"({abs(gap) * 100:.0f} percentage points apart; small numbers, to be read as a pattern to explore, "
            f"not an estimate).")
