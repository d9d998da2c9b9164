"""From themes to theory: the analyst's relations between themes, checked against how the themes occur together.

The analyst states how themes relate in a small YAML file (``theme_relations.yaml``)::

    relations:
      - from: Incentives and targets
        to: Equity awareness
        relation: constrains          # one of RELATIONS
        rationale: Targets steer QI to totals, so nobody asks who benefits.

The relation is an interpretation, so it is the analyst's; what the data can say about it is computed here: the
passages coded to codes of both themes, the participants those passages come from, and the participants whose
account (their row of the framework matrix) carries both themes anywhere. A relation the passages never support, and
a pair of themes that co-occur widely with no stated relation, are both worth a second look.
"""

from __future__ import annotations

import itertools
import os

import pandas as pd

from .. import paths
from ..files import InputError, read_yaml_mapping
from .model import QualData

# The closed vocabulary of relations; "tension with" has no direction (A in tension with B is B with A).
RELATIONS = ("enables", "constrains", "leads to", "tension with")
UNDIRECTED = frozenset({"tension with"})
RELATION_COLUMNS = ("from_theme", "to_theme", "relation", "rationale")
KEYS = ("from", "to", "relation", "rationale")
# A pair of themes "co-occurs widely" when passages from at least this many participants carry both.
STRONG_PARTICIPANTS = 3


def empty_relations() -> pd.DataFrame:
    return pd.DataFrame(columns=list(RELATION_COLUMNS))


def load_theme_relations(path: str | os.PathLike | None, themes: list[str]) -> pd.DataFrame:
    """Read and check the analyst's relations against the codebook's ``themes``; ``None`` gives no relations.

    One row per relation, in file order: ``from_theme, to_theme, relation, rationale``. Each problem is one
    :class:`InputError` naming the file, the entry (numbered from 1) and the problem: a missing or unknown key, an
    unknown theme, a relation word not in :data:`RELATIONS`, a theme related to itself, or a pair already related
    (either direction for "tension with").
    """
    if path is None:
        return empty_relations()
    path = paths.resolve(path)  # relative paths from the repository root, as every path of the API
    data = read_yaml_mapping(path, missing_hint=" (the analyst's relations between themes)")
    entries = data.get("relations")
    if not isinstance(entries, list):
        raise InputError(f"{path}: key 'relations': give a list of relations (an empty list for none)")
    rows, seen = [], {}
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: relation {number}"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a mapping with keys {', '.join(KEYS)}")
        unknown = sorted(set(map(str, entry)) - set(KEYS))
        if unknown:
            raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; keys: {', '.join(KEYS)}")
        values = {}
        for key in KEYS:
            value = entry.get(key)
            if value is None or not str(value).strip():
                raise InputError(f"{where}: key {key!r} is missing or empty")
            values[key] = " ".join(str(value).split())
        for key in ("from", "to"):
            if values[key] not in themes:
                raise InputError(f"{where}: {key!r} names unknown theme {values[key]!r}; themes: "
                                 f"{'; '.join(themes)}")
        relation = values["relation"].lower()
        if relation not in RELATIONS:
            raise InputError(f"{where}: unknown relation {values['relation']!r}; use one of {', '.join(RELATIONS)}")
        if values["from"] == values["to"]:
            raise InputError(f"{where}: relates theme {values['from']!r} to itself")
        # A pair is related once: a directed relation per direction (A leads to B and B leads to A is a loop, and
        # allowed), an undirected one for both directions.
        a, b = values["from"], values["to"]
        clashes = [(a, b), (b, a), frozenset((a, b))] if relation in UNDIRECTED else [(a, b), frozenset((a, b))]
        earlier = next((seen[k] for k in clashes if k in seen), None)
        if earlier is not None:
            raise InputError(f"{where}: duplicate: {a!r} and {b!r} are already related by relation {earlier}")
        for key in ([(a, b), (b, a), frozenset((a, b))] if relation in UNDIRECTED else [(a, b)]):
            seen[key] = number
        rows.append({"from_theme": values["from"], "to_theme": values["to"], "relation": relation,
                     "rationale": values["rationale"]})
    return pd.DataFrame(rows, columns=list(RELATION_COLUMNS))


def theme_co_occurrence(data: QualData) -> pd.DataFrame:
    """Every unordered pair of themes (codebook order): ``theme_a, theme_b, n_passages`` (passages coded to codes of
    both), ``n_participants`` (participants those passages come from) and ``n_accounts`` (participants whose
    account carries both themes, in any passages: both cells of their framework-matrix row filled)."""
    coded = data.coded_segments()
    themes_of_passage = coded.groupby("segment_id")["theme"].agg(frozenset)
    owner = coded.drop_duplicates("segment_id").set_index("segment_id")["participant_id"]
    themes_of_person = coded.groupby("participant_id")["theme"].agg(frozenset)
    rows = []
    for a, b in itertools.combinations(data.themes, 2):
        both = [s for s, themes in themes_of_passage.items() if a in themes and b in themes]
        rows.append({"theme_a": a, "theme_b": b, "n_passages": len(both),
                     "n_participants": int(owner.loc[both].nunique()) if both else 0,
                     "n_accounts": int(sum(a in t and b in t for t in themes_of_person))})
    return pd.DataFrame(rows, columns=["theme_a", "theme_b", "n_passages", "n_participants", "n_accounts"]).astype(
        {"n_passages": "int64", "n_participants": "int64", "n_accounts": "int64"})


def _pair_key(a: str, b: str) -> frozenset:
    return frozenset((a, b))


def relation_support(relations: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The relations with the co-occurrence of their two themes (``n_passages``, ``n_participants``,
    ``n_accounts`` from :func:`theme_co_occurrence`) and ``supported`` (at least one passage carries both)."""
    by_pair = {_pair_key(r["theme_a"], r["theme_b"]): r for r in pairs.to_dict("records")}
    out = relations.copy()
    for column in ("n_passages", "n_participants", "n_accounts"):
        out[column] = [int(by_pair[_pair_key(f, t)][column]) for f, t in zip(out["from_theme"], out["to_theme"])]
    out = out.astype({c: "int64" for c in ("n_passages", "n_participants", "n_accounts")})
    out["supported"] = out["n_passages"] > 0
    return out


def unrelated_strong_pairs(relations: pd.DataFrame, pairs: pd.DataFrame,
                           min_participants: int = STRONG_PARTICIPANTS) -> pd.DataFrame:
    """Pairs of themes whose shared passages come from at least ``min_participants`` participants but which the
    analyst relates in neither direction; most participants first."""
    stated = {_pair_key(f, t) for f, t in zip(relations["from_theme"], relations["to_theme"])}
    unstated = pd.Series([_pair_key(a, b) not in stated for a, b in zip(pairs["theme_a"], pairs["theme_b"])],
                         index=pairs.index, dtype=bool)
    strong = pairs[(pairs["n_participants"] >= min_participants) & unstated]
    return strong.sort_values(["n_participants", "n_passages"], ascending=False, kind="mergesort").reset_index(
        drop=True)
