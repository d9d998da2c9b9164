"""Saturation judged within each role, never claimed from fewer than three participants.

The study-wide saturation curve (:func:`.summaries.saturation_curve`) says when the codebook stopped growing; it
cannot say that a role's perspective is saturated, and a role with one participant has no curve at all. Here each
role with at least :data:`~.attribution.MIN_GROUP_SIZE` participants is a unit; roles with fewer are pooled with the
other small roles of their broader group (``attribution_groups.yaml``), and a unit still below the minimum is "not
assessable" and shows nothing else (its codes would describe one or two people).

Within a unit, events are its data-collection events in collection order (a focus group with two GPs is one event
for the GPs); a code is new at the first event of the unit that applies it.
"""

from __future__ import annotations

import pandas as pd

from .attribution import MIN_GROUP_SIZE, NO_GROUPS, AttributionGroups
from .model import ROLES, QualData
from .summaries import role_noun

NOT_ASSESSABLE = f"not assessable: fewer than {MIN_GROUP_SIZE} participants"
COLUMNS = ["unit", "roles", "n_participants", "n_events", "new_codes_by_event", "n_codes", "last_event_new",
           "events_without_new", "judgement"]


def saturation_units(data: QualData, groups: AttributionGroups = NO_GROUPS,
                     minimum: int = MIN_GROUP_SIZE) -> list[tuple[str, tuple[str, ...]]]:
    """``(unit label, roles)`` in role order: large roles alone, small roles pooled under their group's label when
    the group has more than one small role (a lone small role keeps its own name, not a group it would stand for)."""
    n_role = data.participants["role"].value_counts()
    present = [r for r in ROLES if r in n_role.index]
    small = [r for r in present if n_role[r] < minimum]
    pooled = {}
    for role in small:
        group = groups.group_of(role)
        if group is not None and sum(groups.group_of(r) == group for r in small) > 1:
            pooled[role] = group
    units: dict[str, list[str]] = {}
    for role in present:
        units.setdefault(pooled.get(role, role_noun(role, int(n_role[role]))), []).append(role)
    return [(label, tuple(roles)) for label, roles in units.items()]


def _judgement(new_by_event: list[int]) -> str:
    if sum(new_by_event) == 0:
        return "no codes applied"
    if new_by_event[-1] > 0:
        return "not reached (the last event added codes)"
    quiet = len(new_by_event) - max(i for i, n in enumerate(new_by_event, start=1) if n > 0)
    return f"suggested (no new code at the last {quiet} of {len(new_by_event)} events)"


def saturation_by_role(data: QualData, groups: AttributionGroups = NO_GROUPS,
                       minimum: int = MIN_GROUP_SIZE) -> pd.DataFrame:
    """One row per unit (:func:`saturation_units`): ``unit``, ``roles`` (role nouns joined by ", "),
    ``n_participants``, ``n_events``, ``new_codes_by_event`` (codes first seen in the unit at each of its events,
    e.g. "5, 3, 0"), ``n_codes``, ``last_event_new`` (whether the unit's last event added codes),
    ``events_without_new`` (trailing events with no new code) and ``judgement``. Units below ``minimum``
    participants carry only their size and :data:`NOT_ASSESSABLE` (the other cells empty)."""
    coded = data.coded_segments()
    code_order = list(data.codebook["code"])
    rows = []
    for label, roles in saturation_units(data, groups, minimum):
        people = data.participants[data.participants["role"].isin(roles)]
        row = {"unit": label, "roles": ", ".join(role_noun(r) for r in roles),
               "n_participants": len(people), "n_events": people["collection_order"].nunique()}
        if len(people) < minimum:
            rows.append({**row, "new_codes_by_event": "", "n_codes": pd.NA, "last_event_new": pd.NA,
                         "events_without_new": pd.NA, "judgement": NOT_ASSESSABLE})
            continue
        seen: set[str] = set()
        new_by_event = []
        for _, event in people.groupby("collection_order", sort=True):
            here = set(coded.loc[coded["participant_id"].isin(event["participant_id"]), "code"])
            new = [c for c in code_order if c in here and c not in seen]
            seen.update(new)
            new_by_event.append(len(new))
        last_new = max((i for i, n in enumerate(new_by_event, start=1) if n > 0), default=0)
        rows.append({**row, "new_codes_by_event": ", ".join(map(str, new_by_event)), "n_codes": len(seen),
                     "last_event_new": new_by_event[-1] > 0, "events_without_new": len(new_by_event) - last_new,
                     "judgement": _judgement(new_by_event)})
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.astype({"n_participants": "int64", "n_events": "int64", "n_codes": "Int64",
                       "events_without_new": "Int64", "last_event_new": "boolean"})
