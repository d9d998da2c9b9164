"""Who a quote is attributed to, so that no participant can be picked out by their role.

A quote attributed to "P04, commissioner" when the study has one commissioner names that commissioner to anyone who
knows the system. The rule (the same for quotes, the framework matrix and the theme table's role counts):

1. A role with at least :data:`MIN_GROUP_SIZE` participants is shown as itself ("GP").
2. A role with fewer is shown as the broader group the analyst maps it to (``attribution_groups.yaml``: e.g.
   commissioner and policy maker -> "policy and commissioning"). Every other role of that group is then shown as
   the group too, even a large one: were the GPs still "GP", the one "practice staff" pseudonym left would be the
   pharmacist's.
3. A group that still has fewer than :data:`MIN_GROUP_SIZE` participants, and a small role with no group, are shown
   as "participant".

The mapping file is a YAML mapping ``groups: {<group label>: [<role>, ...]}``; roles are those of
:data:`~.model.ROLES` (spaces and hyphens read as ``_``, case ignored), each in at most one group.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from .. import paths
from ..files import InputError, read_yaml_mapping
from .model import ROLES
from .summaries import role_noun

MIN_GROUP_SIZE = 3
PARTICIPANT = "participant"


@dataclass(frozen=True)
class AttributionGroups:
    """The analyst's broader groups: group label -> roles, in file order; ``source`` names the file."""

    groups: Mapping[str, tuple[str, ...]]
    source: str = "no attribution groups"

    def group_of(self, role: str) -> str | None:
        return next((label for label, roles in self.groups.items() if role in roles), None)


NO_GROUPS = AttributionGroups({})


def load_attribution_groups(path: str | os.PathLike | None) -> AttributionGroups:
    """Read and check the role -> broader group mapping (``None``: no groups, so small roles become
    "participant"). Each problem is one :class:`InputError` naming the file, the group (entry number and label)
    and the problem."""
    if path is None:
        return NO_GROUPS
    path = paths.resolve(path)  # relative paths from the repository root, as every path of the API
    data = read_yaml_mapping(path, missing_hint=" (the broader groups quotes of small roles are attributed to)")
    groups = data.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise InputError(f"{path}: key 'groups': give a mapping of group label to a list of roles")
    out: dict[str, tuple[str, ...]] = {}
    first_group: dict[str, str] = {}
    for number, (label, roles) in enumerate(groups.items(), start=1):
        where = f"{path}: group {number} ({label!r})"
        label = str(label).strip() if label is not None else ""
        if not label:
            raise InputError(f"{where}: empty group label")
        if label.lower() == PARTICIPANT or label.lower() in {r.replace("_", " ") for r in ROLES}:
            raise InputError(f"{where}: the label must name a broader group, not {PARTICIPANT!r} or a role")
        if not isinstance(roles, list) or not roles:
            raise InputError(f"{where}: give a list of at least one role")
        keys = []
        for role in roles:
            key = re.sub(r"[\s\-]+", "_", str(role).strip().lower())
            if key not in ROLES:
                raise InputError(f"{where}: {role!r} is not a role; roles: {', '.join(ROLES)}")
            if key in first_group:
                raise InputError(f"{where}: role {key!r} is already in group {first_group[key]!r}; a role belongs "
                                 f"to one group")
            first_group[key] = label
            keys.append(key)
        out[label] = tuple(keys)
    return AttributionGroups(out, str(path))


def attribute(participants: pd.DataFrame, groups: AttributionGroups = NO_GROUPS,
              minimum: int = MIN_GROUP_SIZE) -> pd.DataFrame:
    """One row per participant (input order): ``participant_id``, ``role``, ``attributed_as`` (the label quotes
    carry: the role noun, a group label or "participant") and ``n_behind`` (participants sharing that label).

    See the module docstring for the rule; ``minimum`` is the smallest number of participants a label may stand
    for (3 by default; lower values are refused, since a label shared by two people tells each who the other is).
    """
    if minimum < MIN_GROUP_SIZE:
        raise ValueError(f"minimum must be at least {MIN_GROUP_SIZE}, not {minimum}")
    n_role = participants["role"].value_counts()
    small = {r for r, n in n_role.items() if n < minimum}
    label_of: dict[str, str] = {}
    for label, roles in groups.groups.items():
        present = [r for r in roles if r in n_role.index]
        if any(r in small for r in present):  # the group is in use: all its roles take its label
            size = int(sum(n_role[r] for r in present))
            for r in present:
                label_of[r] = label if size >= minimum else PARTICIPANT
    for role in n_role.index:
        label_of.setdefault(role, role_noun(role) if role not in small else PARTICIPANT)
    out = participants[["participant_id", "role"]].copy()
    out["attributed_as"] = out["role"].map(label_of)
    out["n_behind"] = out["attributed_as"].map(out["attributed_as"].value_counts()).astype("int64")
    return out.reset_index(drop=True)


def attribute_quotes(quotes: pd.DataFrame, attribution: pd.DataFrame) -> pd.DataFrame:
    """The exemplar quotes with ``attribution`` rewritten as "<pseudonym>, <attributed_as>" and ``role`` replaced by
    the attributed label, so no column of the frame carries a role that could single a participant out."""
    label = dict(zip(attribution["participant_id"], attribution["attributed_as"]))
    missing = sorted(set(quotes["participant_id"]) - set(label))
    if missing:
        raise ValueError(f"participants {', '.join(missing)} are quoted but not in the attribution table")
    out = quotes.copy()
    out["role"] = out["participant_id"].map(label)
    out["attribution"] = out["participant_id"] + ", " + out["role"]
    return out


def attribute_matrix(matrix: pd.DataFrame, attribution: pd.DataFrame) -> pd.DataFrame:
    """The framework matrix (long form) with ``role`` replaced by the attributed label."""
    label = dict(zip(attribution["participant_id"], attribution["attributed_as"]))
    return matrix.assign(role=matrix["participant_id"].map(label))
