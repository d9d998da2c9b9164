"""Summaries of coded data for a qualitative chapter: theme counts, framework matrix, exemplar quotes,
code co-occurrence, saturation, and themes by the deprivation of the participant's practice or area.

Each function returns a tidy frame of names and numbers; :mod:`beyond_averages.report.qualitative` turns them into
tables, sentences and figures.

Counting rules (the same in every table):

- A participant "has" a code (or theme) if at least one of their segments is coded with it (with any code of the
  theme). ``n_participants`` counts such participants; ``n_segments`` counts distinct segments, so a segment coded
  with two codes of one theme counts once for the theme.
- Nothing here depends on segment IDs or on row order: segments are ordered by data-collection order, participant,
  source, start position and text, so a CSV project and the same project read back from REFI-QDA give the same
  tables and the same exemplar quotes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from .. import labels
from .model import ROLES, QualData

Level = Literal["code", "theme"]

# Deprivation bands of the participant's practice or area, from the one IMD quintile definition
# (beyond_averages.deprivation: 1 = most deprived). Fourteen-odd participants cannot support five quintiles.
DEPRIVATION_BANDS = {1: "most_deprived", 2: "most_deprived", 3: "middle", 4: "least_deprived", 5: "least_deprived"}
BAND_ORDER = ("most_deprived", "middle", "least_deprived", "not_known")
DEFAULT_SEED = 20240917


def role_noun(role: str, n: int = 1) -> str:
    """'GP', 'practice nurse'; plural when ``n`` is not 1 ('GPs', 'practice nurses')."""
    if role == "unknown":  # a noun phrase, not a role title
        return f"participant{'' if n == 1 else 's'} of unknown role"
    label = labels.ROLES[role] if role == "gp" else labels.ROLES[role].lower()
    return label if n == 1 else f"{label}s"


def _ordered_segments(data: QualData) -> pd.DataFrame:
    segs = data.segments.merge(data.participants, on="participant_id", how="left")
    segs = segs.assign(_start=segs["start"].fillna(-1).astype("int64"))
    return segs.sort_values(["collection_order", "participant_id", "source", "_start", "text"],
                            kind="mergesort").drop(columns="_start").reset_index(drop=True)


def _coded(data: QualData) -> pd.DataFrame:
    return data.coded_segments()


def roles_present(data: QualData) -> list[str]:
    """The roles of the participants, in :data:`~.model.ROLES` order."""
    present = set(data.participants["role"])
    return [r for r in ROLES if r in present]


def theme_summary(data: QualData) -> pd.DataFrame:
    """One row per theme followed by one row per code of it, in codebook order.

    Columns: ``level`` (``theme``/``code``), ``theme``, ``code`` (empty on theme rows), ``definition``,
    ``n_participants``, ``n_segments`` (coded passages), and ``participants_<role>`` for each role present
    (participants of that role with the theme or code). Codes never applied appear with zeros. When the codings as
    recorded outnumber the coded passages for some code (several coders, or one code applied twice to a passage),
    an ``n_codings`` column after ``n_segments`` gives the recorded codings too (on a theme row, of all its codes).
    """
    coded = _coded(data)
    roles = roles_present(data)
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
    out = pd.DataFrame(rows)
    recorded = data.coder_codings.merge(data.codebook[["theme", "code"]], on="code", how="left")
    n_codings = [int(((recorded["theme"] == r["theme"]) if r["level"] == "theme" else
                      (recorded["code"] == r["code"])).sum()) for r in rows]
    is_code = (out["level"] == "code").to_numpy()
    # A theme row counts a passage once however many of its codes it carries, so only code rows can tell.
    if len(recorded) and (out.loc[is_code, "n_segments"].to_numpy() != np.array(n_codings)[is_code]).any():
        out.insert(out.columns.get_loc("n_segments") + 1, "n_codings", n_codings)
    return out


def counts_by_role(data: QualData, level: Level = "theme") -> pd.DataFrame:
    """Long table: ``theme`` (and ``code``), ``role``, ``n_participants``, ``n_segments``, ``n_role`` (participants
    of that role in the study), every combination present, zeros included."""
    coded = _coded(data)
    keys = ["theme"] if level == "theme" else ["theme", "code"]
    units = data.codebook[keys].drop_duplicates()
    roles = pd.DataFrame({"role": roles_present(data)})
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
