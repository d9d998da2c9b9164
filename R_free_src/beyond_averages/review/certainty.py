"""Certainty of the evidence on each outcome's inequalities, by GRADE's domains, as a transparent first pass.

GRADE rates a body of evidence, outcome by outcome: randomised evidence starts at high certainty and non-randomised
at low, and each of five domains (risk of bias, inconsistency, indirectness, imprecision, publication bias) can rate
it down by one level ("serious") or two ("very serious"). The judgements are the reviewers'; this module makes the
first pass reproducible by stating each rule and its threshold (from the protocol's ``certainty`` block), and the
reviewers' ``overrides`` replace any domain's judgement with their reason. Only studies that assessed the effect on
inequalities contribute (a study that did not assess it says nothing about it).

Rules (thresholds are the protocol's, defaults in :data:`DEFAULT_RULES`):

- starting level: high if at least one randomised trial contributes, otherwise low;
- risk of bias: very serious when at least ``rob_very_serious_share`` of the studies are at high/serious/critical
  overall risk, serious when at least ``rob_serious_share``;
- inconsistency: serious when some studies found inequalities narrowed and others widened;
- indirectness: serious when at least ``indirect_share`` of the studies are outside ``target_countries``;
- imprecision: serious when fewer than ``min_studies`` studies or fewer than ``min_total_sample`` units in all,
  very serious when both;
- publication bias: not assessable with fewer than ``publication_bias_min_studies`` studies (no rating down);
  otherwise left to the reviewers' override.
"""

from __future__ import annotations

import pandas as pd

from ..files import InputError

LEVELS = ("very low", "low", "moderate", "high")
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOWNGRADE = {"not serious": 0, "serious": 1, "very serious": 2, "not assessable": 0, "undetected": 0,
             "strongly suspected": 1}
RANDOMISED = ("rct", "cluster_rct")
HIGH_RISK = ("high", "serious", "critical")
DEFAULT_RULES = {"rob_serious_share": 0.5, "rob_very_serious_share": 0.75, "indirect_share": 0.5,
                 "target_countries": ["England", "Scotland", "Wales", "Northern Ireland"], "min_studies": 2,
                 "min_total_sample": 100, "publication_bias_min_studies": 10}


def _rules(certainty: dict, source: str) -> dict:
    unknown = sorted(set(certainty) - set(DEFAULT_RULES) - {"overrides"})
    if unknown:
        raise InputError(f"{source}: key 'certainty': unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(DEFAULT_RULES)}, overrides")
    return {**DEFAULT_RULES, **{k: v for k, v in certainty.items() if k != "overrides"}}


def _judge(group: pd.DataFrame, rules: dict) -> dict[str, tuple[str, str]]:
    n = len(group)
    risky = int(group["rob_overall"].isin(HIGH_RISK).sum())
    share = risky / n
    rob = ("very serious" if share >= rules["rob_very_serious_share"]
           else "serious" if share >= rules["rob_serious_share"] else "not serious")
    directions = set(group["effect_direction"])
    inconsistent = {"narrowed", "widened"} <= directions
    outside = int((~group["country"].isin(rules["target_countries"])).sum())
    size = int(group["sample_size"].fillna(0).sum())
    few, small = n < rules["min_studies"], size < rules["min_total_sample"]
    imprecision = "very serious" if few and small else "serious" if few or small else "not serious"
    return {
        "risk_of_bias": (rob, f"{risky} of {n} at high risk"),
        "inconsistency": ("serious" if inconsistent else "not serious",
                          "narrowed in some, widened in others" if inconsistent else "directions agree"),
        "indirectness": ("serious" if outside / n >= rules["indirect_share"] else "not serious",
                         f"{outside} of {n} outside the target countries"),
        "imprecision": (imprecision, f"{n} {'study' if n == 1 else 'studies'}, {size} units"),
        "publication_bias": ("not assessable" if n < rules["publication_bias_min_studies"] else "undetected",
                             f"fewer than {rules['publication_bias_min_studies']} studies"
                             if n < rules["publication_bias_min_studies"] else "no assessment rule; see overrides"),
    }


def certainty_of_evidence(extraction: pd.DataFrame, certainty: dict | None = None,
                          source: str = "protocol") -> pd.DataFrame:
    """One row per outcome (``effect_outcome``): studies, starting level, each domain's judgement and reason, and the
    certainty after rating down, ordered by outcome. ``certainty`` is the protocol's ``certainty`` block."""
    certainty = dict(certainty or {})
    rules = _rules(certainty, source)
    assessed = extraction.loc[extraction["effect_direction"] != "not_assessed"]
    rows = []
    for outcome, group in assessed.groupby("effect_outcome", sort=True):
        start = "high" if group["design"].isin(RANDOMISED).any() else "low"
        judged = _judge(group, rules)
        row = {"outcome": outcome, "n_studies": len(group), "start": start,
               "narrowed": int((group["effect_direction"] == "narrowed").sum()),
               "no_change": int((group["effect_direction"] == "no_change").sum()),
               "widened": int((group["effect_direction"] == "widened").sum())}
        for domain, (judgement, reason) in judged.items():
            row[domain], row[f"{domain}_reason"] = judgement, reason
        rows.append(row)
    table = pd.DataFrame(rows)
    for i, override in enumerate(certainty.get("overrides") or []):
        table = _apply_override(table, override, i, source)
    if table.empty:
        return table
    down = sum(table[d].map(DOWNGRADE) for d in DOMAINS)
    table["certainty"] = [LEVELS[max(0, LEVELS.index(s) - int(k))] for s, k in zip(table["start"], down)]
    return table.reset_index(drop=True)


def _apply_override(table: pd.DataFrame, override, i: int, source: str) -> pd.DataFrame:
    where = f"certainty.overrides[{i}]"
    if not isinstance(override, dict) or not {"outcome", "domain", "judgement", "reason"} <= set(override):
        raise InputError(f"{source}: key {where!r}: expected outcome, domain, judgement and reason")
    if override["domain"] not in DOMAINS:
        raise InputError(f"{source}: key '{where}.domain': {override['domain']!r} is not one of {', '.join(DOMAINS)}")
    if override["judgement"] not in DOWNGRADE:
        raise InputError(f"{source}: key '{where}.judgement': {override['judgement']!r} is not one of "
                         f"{', '.join(DOWNGRADE)}")
    hit = table["outcome"] == override["outcome"] if len(table) else pd.Series(dtype=bool)
    if not hit.any():
        raise InputError(f"{source}: key '{where}.outcome': {override['outcome']!r} is not an outcome of the "
                         "included studies that assessed inequalities")
    table = table.copy()
    table.loc[hit, override["domain"]] = override["judgement"]
    table.loc[hit, f"{override['domain']}_reason"] = f"reviewers: {override['reason']}"
    return table
