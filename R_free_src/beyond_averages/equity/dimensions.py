"""The equity dimensions: which patient attribute splits the indicator, into which groups, and how inequality across
them is summarised.

An *ordered* dimension (IMD quintile, age band) has a gradient: the gap between its ends and the slope and relative
indices of inequality apply, ranked from the most disadvantaged end (rank 0) to the least (rank 1), PHE's convention
(:mod:`beyond_averages.equity`). For age there is no disadvantaged end, so by convention the youngest band is rank 0
and the oldest rank 1: a positive SII means the indicator rises with age. An *unordered* dimension (ethnic group,
sex) has no gradient, so no SII: each group is compared with a reference group (difference and ratio), and the
spread across groups is summarised by the between-group variance and the index of disparity
(:mod:`beyond_averages.equity.unordered`). The product of two dimensions (IMD quintile x ethnic group) is unordered;
its groups are the cells, codes joined by ``:`` ("1:Black").

Codes come from the extract's data contract (:data:`beyond_averages.measures.by_dimension.ATTRIBUTES`), labels and
the analytical choices (order, reference, ends) from here. Which dimension a study uses is ``equity_dimension`` in
``study.yaml``, overridden per area by ``equity_dimension`` in ``areas/<area>.yaml`` (:func:`dimension_for`).
"""

from __future__ import annotations

from dataclasses import dataclass

from beyond_averages import labels
from beyond_averages.config import EQUITY_DIMENSIONS, Area, ConfigError, Study
from beyond_averages.measures.by_dimension import ATTRIBUTES, SEPARATOR


@dataclass(frozen=True)
class Group:
    code: str
    label: str


@dataclass(frozen=True)
class Dimension:
    """One equity dimension. ``groups`` are the analysed groups in display order; ``unknown`` those of patients
    without a usable value (shown in tables so counts add up, never in summary measures). Ordered dimensions name
    their ``most_disadvantaged`` (rank 0) and ``least_disadvantaged`` (rank 1) ends; every dimension names the
    ``reference`` group its groups are compared with. ``components``: the dimensions of a product."""

    name: str
    title: str                      # "ethnic group": used in sentences and headers
    attributes: tuple[str, ...]     # patient attributes read (measures.by_dimension.ATTRIBUTES)
    groups: tuple[Group, ...]
    ordered: bool
    reference: str
    most_disadvantaged: str | None = None
    least_disadvantaged: str | None = None
    unknown: tuple[Group, ...] = ()
    components: tuple[Dimension, ...] = ()

    def __post_init__(self):
        where = f"equity dimension {self.name!r}"
        codes = [g.code for g in self.groups + self.unknown]
        if len(set(codes)) != len(codes):
            raise ValueError(f"{where}: key 'groups': codes must be unique; got {codes}")
        if len(self.groups) < 2:
            raise ValueError(f"{where}: key 'groups': at least two groups are needed; got {self.codes}")
        if self.reference not in self.codes:
            raise ValueError(f"{where}: key 'reference': {self.reference!r} is not one of its groups {self.codes}")
        ends = (self.most_disadvantaged, self.least_disadvantaged)
        if self.ordered:
            for key, end in zip(("most_disadvantaged", "least_disadvantaged"), ends):
                if end not in (self.codes[0], self.codes[-1]):
                    raise ValueError(f"{where}: key {key!r}: an ordered dimension's ends are its first and last "
                                     f"groups {self.codes[0]!r}, {self.codes[-1]!r}; got {end!r}")
            if ends[0] == ends[1]:
                raise ValueError(f"{where}: keys 'most_disadvantaged' and 'least_disadvantaged' are the same group")
        elif ends != (None, None):
            raise ValueError(f"{where}: key 'most_disadvantaged': an unordered dimension has no disadvantaged end")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(g.code for g in self.groups)

    def all_groups(self, include_unknown: bool = True) -> tuple[Group, ...]:
        """Groups in the order of :func:`beyond_averages.measures.by_dimension.group_codes` (for a product: every
        pair, first component slowest, unknown ones included when asked)."""
        if not self.components:
            return self.groups + (self.unknown if include_unknown else ())
        first, second = self.components
        return tuple(_cell(a, b) for a in first.all_groups(include_unknown) for b in second.all_groups(include_unknown))

    def label(self, code: str) -> str:
        for g in self.all_groups(True):
            if g.code == code:
                return g.label
        raise KeyError(f"equity dimension {self.name!r}: no group {code!r}")

    def is_known(self, code: str) -> bool:
        return code in self.codes

    def split_code(self, code: str) -> tuple[str, ...]:
        """A product cell's component codes ("1:Black" -> ("1", "Black")); a simple group's code alone."""
        return tuple(code.split(SEPARATOR)) if self.components else (code,)


def _cell(a: Group, b: Group) -> Group:
    return Group(f"{a.code}{SEPARATOR}{b.code}", f"{a.label}, {b.label}")


def _groups(attribute: str, labels_by_code: dict[str, str]) -> tuple[tuple[Group, ...], tuple[Group, ...]]:
    attr = ATTRIBUTES[attribute]
    known = tuple(Group(c, labels_by_code.get(c, c)) for c in attr.codes)
    unknown = () if attr.unknown is None else (Group(attr.unknown, labels_by_code.get(attr.unknown, attr.unknown)),)
    return known, unknown


def _simple(name: str, title: str, attribute: str, ordered: bool, reference: str, shown: dict[str, str],
            ends: tuple[str | None, str | None] = (None, None)) -> Dimension:
    known, unknown = _groups(attribute, shown)
    return Dimension(name, title, (attribute,), known, ordered, reference, ends[0], ends[1], unknown)


def intersection(first: Dimension, second: Dimension, name: str | None = None) -> Dimension:
    """The product of two simple dimensions: every pair of their groups is a cell; unordered (a cell has no
    single place on a gradient). Reference cell: the first's least disadvantaged (or reference) group x the
    second's reference group."""
    if first.components or second.components:
        raise ValueError(f"equity dimension: key 'components': intersect simple dimensions only; got {first.name!r} "
                         f"x {second.name!r}")
    groups = tuple(_cell(a, b) for a in first.groups for b in second.groups)
    everything = tuple(_cell(a, b) for a in first.all_groups(True) for b in second.all_groups(True))
    unknown = tuple(g for g in everything if g not in groups)
    reference = f"{first.least_disadvantaged or first.reference}{SEPARATOR}{second.reference}"
    return Dimension(name or f"{first.name}_x_{second.name}", f"{first.title} and {second.title}",
                     first.attributes + second.attributes, groups, False, reference, unknown=unknown,
                     components=(first, second))


IMD_QUINTILE = _simple("imd_quintile", "IMD quintile", "imd_quintile", True, "5",
                       {**{str(q): label for q, label in labels.QUINTILES.items()}, "0": "IMD unknown"},
                       ends=("1", "5"))
# Reference: White, the largest group in the extract and the usual comparator of NHS ethnicity reporting.
ETHNICITY = _simple("ethnicity", "ethnic group", "ethnicity", False, "White", {})
SEX = _simple("sex", "sex", "sex", False, "male", {"female": "Female", "male": "Male", "unknown": "Sex unknown"})
AGE_BAND = _simple("age_band", "age band", "age_band", True, "0-15",
                   {c: f"{c} years" for c in ATTRIBUTES["age_band"].codes}, ends=("0-15", "80+"))
DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (IMD_QUINTILE, ETHNICITY, SEX, AGE_BAND)}
DIMENSIONS["imd_x_ethnicity"] = intersection(IMD_QUINTILE, ETHNICITY, "imd_x_ethnicity")
assert tuple(DIMENSIONS) == EQUITY_DIMENSIONS, "config.EQUITY_DIMENSIONS must list the dimensions defined here"


def get_dimension(name: str, key: str = "equity_dimension") -> Dimension:
    """The dimension called ``name``; ``ConfigError`` naming ``key`` if there is none."""
    if name not in DIMENSIONS:
        raise ConfigError(f"{key}: unknown equity dimension {name!r}; known: {', '.join(DIMENSIONS)}")
    return DIMENSIONS[name]


def dimension_for(study: Study, area: Area | None = None) -> Dimension:
    """The equity dimension of an area's analyses: the area file's ``equity_dimension`` when it sets one, else
    ``study.yaml``'s (IMD quintile by default)."""
    if area is not None and area.equity_dimension is not None:
        return get_dimension(area.equity_dimension, f"areas/{area.name}.yaml: key 'equity_dimension'")
    return get_dimension(study.equity_dimension, "study.yaml: key 'equity_dimension'")


def beyond_deprivation(dimension: Dimension) -> tuple[Dimension, Dimension]:
    """The dimensions the study-population chapter shows beside deprivation: the configured dimension's
    non-deprivation component (ethnic group when the configured one is IMD quintile itself), and its
    intersection with IMD quintile."""
    if dimension.components:
        second = next(c for c in dimension.components if c.name != IMD_QUINTILE.name)
    elif dimension.name == IMD_QUINTILE.name:
        second = ETHNICITY
    else:
        second = dimension
    if second.name == ETHNICITY.name:
        return second, DIMENSIONS["imd_x_ethnicity"]
    return second, intersection(IMD_QUINTILE, second)
