"""Study and clinical-area configuration, validated once into frozen objects.

A clinical area is data, not code: one YAML file in ``areas/`` (eligibility, codelists, look-back window, indicator,
programme timing, synthetic levels and planted effects). ``load_area("cervical_screening")`` reads and validates it;
a typo or a missing key raises :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import paths
from .disclosure import DisclosureRules
from .files import InputError, read_yaml_mapping

Scenario = Literal["null", "uniform", "narrowing", "widening", "selection", "ethnicity"]
SCENARIOS: tuple[str, ...] = ("null", "uniform", "narrowing", "widening", "selection", "ethnicity")
# Scenarios that plant another scenario's effects: ``selection`` plants exactly narrowing's and differs only in who
# adopts (practices with a higher baseline level more often: ``synth.extract.assign_programme``), so an area file
# may leave it out of ``effects_pp`` (it is filled in) or repeat narrowing's values, but not give others.
# ``ethnicity`` plants uniform's effects by quintile, each patient's multiplied by ``effects_by_ethnicity`` of their
# ethnic group: any inequality in the effect is by ethnicity, not deprivation (so recovery by ethnicity is checkable).
EFFECTS_OF: dict[str, str] = {"selection": "narrowing", "ethnicity": "uniform"}
EthnicGroup = Literal["Asian", "Black", "Mixed", "White", "Other"]  # ONS 2021 high-level groups
ETHNIC_GROUPS: tuple[str, ...] = get_args(EthnicGroup)
Sex = Literal["any", "female", "male"]
# The equity dimensions an analysis can split the indicator by (``equity_dimension`` in study.yaml or an area file),
# defined in beyond_averages.equity.dimensions, which checks it defines exactly these.
EquityDimension = Literal["imd_quintile", "ethnicity", "sex", "age_band", "imd_x_ethnicity"]
EQUITY_DIMENSIONS: tuple[str, ...] = ("imd_quintile", "ethnicity", "sex", "age_band", "imd_x_ethnicity")


class ConfigError(InputError):
    """A configuration file is invalid; the message names the file and the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _quintile_map(value: dict, what: str) -> dict[int, float]:
    keys = sorted(int(k) for k in value)
    if keys != [1, 2, 3, 4, 5]:
        raise ValueError(f"{what} needs one value for each IMD quintile 1-5, got keys {keys}")
    return {int(k): float(v) for k, v in value.items()}


class Eligibility(_Frozen):
    """Who is in the denominator at the end of a month.

    Ages are completed age at the month's end: ``age_min_months <= age <= age_max_months``. Give ages in years or in
    months (years are converted: ``age_max_years: 49`` means up to the day before the 50th birthday).
    """

    sex: Sex = "any"
    age_min_years: int | None = None
    age_max_years: int | None = None
    age_min_months: int | None = None
    age_max_months: int | None = None
    on_register: str | None = None  # codelist: eligible from the month of the first code onwards

    @model_validator(mode="after")
    def _one_unit(self):
        if self.age_min_years is not None and self.age_min_months is not None:
            raise ValueError("give age_min_years or age_min_months, not both")
        if self.age_max_years is not None and self.age_max_months is not None:
            raise ValueError("give age_max_years or age_max_months, not both")
        lo, hi = self.min_age_months, self.max_age_months
        if hi is not None and hi < lo:
            raise ValueError(f"maximum age ({hi} months) is below minimum age ({lo} months)")
        return self

    @property
    def min_age_months(self) -> int:
        if self.age_min_months is not None:
            return self.age_min_months
        return 12 * (self.age_min_years or 0)

    @property
    def max_age_months(self) -> int | None:
        """Inclusive maximum completed age in months (None = no upper limit)."""
        if self.age_max_months is not None:
            return self.age_max_months
        if self.age_max_years is not None:
            return 12 * self.age_max_years + 11
        return None


class Indicator(_Frozen):
    codelist: str
    lookback_months: int | None = Field(default=None, ge=1)  # None = ever recorded
    value_max: float | None = None  # count only events whose value is at or below this


class Programme(_Frozen):
    name: str
    waves: tuple[dt.date, ...]
    share_adopting: float = Field(gt=0, lt=1)

    @field_validator("waves")
    @classmethod
    def _first_of_month(cls, waves):
        if not waves:
            raise ValueError("at least one wave start is needed")
        for w in waves:
            if w.day != 1:
                raise ValueError(f"wave start {w} must be the first day of a month")
        if list(waves) != sorted(waves):
            raise ValueError("waves must be in date order")
        return waves


class Codelist(_Frozen):
    description: str
    codes: dict[str, str]

    @field_validator("codes")
    @classmethod
    def _non_empty(cls, codes):
        if not codes:
            raise ValueError("a codelist needs at least one code")
        return codes


# A value for each IMD quintile 1-5 (YAML keys may be strings or numbers).
QuintileMap = Annotated[dict[int, float], BeforeValidator(lambda v: _quintile_map(v, "the mapping"))]


class ValueModel(_Frozen):
    mean_by_quintile: QuintileMap
    sd: float = Field(gt=0)
    decimals: int = 0


class RegisterModel(_Frozen):
    prevalence_by_quintile: QuintileMap
    age_min_years: int = 18


def _scenario_effects(v, key: str) -> dict[str, dict[int, float]]:
    """Planted effects by scenario and quintile (``effects_pp``, ``value_effects``): every scenario of its own,
    the derived ones (``EFFECTS_OF``) filled in from their source."""
    if not isinstance(v, dict):
        raise ValueError(f"{key} must map each scenario to its effects by IMD quintile")
    own = [s for s in SCENARIOS if s not in EFFECTS_OF]
    missing = [s for s in own if s not in v]
    if missing:
        raise ValueError(f"{key} needs every scenario {own}; missing {missing}")
    unknown = [s for s in v if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"{key} has unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    out = {s: _quintile_map(q, f"{key}.{s}") for s, q in v.items()}
    for derived, source in EFFECTS_OF.items():
        if derived in out and out[derived] != out[source]:
            raise ValueError(f"{key}.{derived} must equal {key}.{source} (the {derived} scenario "
                             f"plants {source}'s effects) or be left out; got {out[derived]}")
        out[derived] = out[source]
    return out


class ContinuousOutcome(_Frozen):
    """An indicator that is the mean of a recorded value (``continuous_outcome:`` in an area file): among the
    area's eligible patients, each patient's latest value of ``codelist`` in the ``lookback_months`` up to and
    including the month (e.g. the latest HbA1c in 12 months among people on the diabetes register).
    ``lower_is_better`` decides the words (a fall is an improvement); ``decimals`` the digits means are shown to."""

    codelist: str
    label: str = Field(min_length=1)
    short_label: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    lookback_months: int = Field(ge=1)
    lower_is_better: bool
    decimals: int = Field(default=1, ge=0, le=6)


class SyntheticArea(_Frozen):
    baseline_by_quintile: dict[int, float]
    age_logit_per_decade: float = 0.0
    age_reference_years: float = 60.0   # age at which coverage equals baseline_by_quintile
    practice_logit_sd: float = Field(default=0.25, ge=0)
    due_age_months: tuple[int, int] | None = None
    values: ValueModel | None = None
    registers: dict[str, RegisterModel] = {}
    covid_hazard_multiplier: dict[dt.date, float]
    effects_pp: dict[str, dict[int, float]]
    # Planted effects on the continuous outcome's value, in its unit, by scenario and quintile (ramped in like
    # effects_pp); None: no effect on the value.
    value_effects: dict[str, dict[int, float]] | None = None
    # The ``ethnicity`` scenario's multiplier of each patient's planted effect, by ethnic group (groups left out and
    # "Not recorded": 1).
    effects_by_ethnicity: dict[EthnicGroup, Annotated[float, Field(ge=0)]] = {}
    effect_ramp_months: int = Field(default=12, ge=0)
    sources: dict[str, str] = {}

    @field_validator("baseline_by_quintile", mode="before")
    @classmethod
    def _baseline(cls, v):
        out = _quintile_map(v, "baseline_by_quintile")
        if any(not 0 < p < 1 for p in out.values()):
            raise ValueError("baseline_by_quintile values are proportions strictly between 0 and 1")
        return out

    @field_validator("effects_pp", mode="before")
    @classmethod
    def _effects(cls, v):
        return _scenario_effects(v, "effects_pp")

    @field_validator("value_effects", mode="before")
    @classmethod
    def _value_effects(cls, v):
        return None if v is None else _scenario_effects(v, "value_effects")



class Area(_Frozen):
    name: str
    title: str
    indicator_label: str
    short_label: str
    core20plus5: bool = False
    eligibility: Eligibility
    indicator: Indicator
    programme: Programme
    codelists: dict[str, Codelist]
    synthetic: SyntheticArea
    continuous_outcome: ContinuousOutcome | None = None
    equity_dimension: EquityDimension | None = None  # None: the study's (study.yaml)

    @model_validator(mode="after")
    def _codelists_exist(self):
        needed = {"indicator.codelist": self.indicator.codelist}
        if self.continuous_outcome is not None:
            needed["continuous_outcome.codelist"] = self.continuous_outcome.codelist
        if self.eligibility.on_register:
            needed["eligibility.on_register"] = self.eligibility.on_register
        for reg in self.synthetic.registers:
            needed[f"synthetic.registers.{reg}"] = reg
        for key, name in needed.items():
            if name not in self.codelists:
                raise ValueError(f"{key} names codelist {name!r}, which is not under codelists ({sorted(self.codelists)})")
        if self.eligibility.on_register and self.eligibility.on_register not in self.synthetic.registers:
            raise ValueError(
                f"eligibility.on_register {self.eligibility.on_register!r} needs synthetic.registers.{self.eligibility.on_register} "
                "(its prevalence) so the synthetic extract can contain it"
            )
        self._check_continuous_outcome()
        return self

    def _check_continuous_outcome(self) -> None:
        """The synthetic generator records values on the indicator's events only (``synthetic.values``), so a
        continuous outcome must use that codelist and have values; planted value effects need an outcome."""
        outcome, syn = self.continuous_outcome, self.synthetic
        if outcome is None:
            if syn.value_effects is not None:
                raise ValueError("synthetic.value_effects plants effects on a continuous outcome, but the area has "
                                 "no continuous_outcome block")
            return
        if outcome.codelist != self.indicator.codelist:
            raise ValueError(f"continuous_outcome.codelist {outcome.codelist!r} must be the indicator's codelist "
                             f"{self.indicator.codelist!r}: the synthetic extract records values on its events only")
        lookback = self.indicator.lookback_months
        if lookback is not None and outcome.lookback_months > lookback:
            raise ValueError(f"continuous_outcome.lookback_months ({outcome.lookback_months}) must not exceed "
                             f"indicator.lookback_months ({lookback}): the synthetic extract's events start that "
                             "many months before the study")
        if syn.values is None:
            raise ValueError("continuous_outcome needs synthetic.values (the value's mean by quintile and SD) so the "
                             "synthetic extract records values")

    def codes(self, codelist: str) -> tuple[str, ...]:
        return tuple(self.codelists[codelist].codes)


class Synthetic(_Frozen):
    seed: int
    n_practices: int = Field(gt=0)
    scale: float = Field(gt=0)
    target_patients: int = Field(gt=0)
    scenario: Scenario
    annual_deregistration: float = Field(ge=0, lt=1)
    catchment_lsoas: int = Field(gt=0)


class DisclosureSettings(_Frozen):
    redact_at_or_below: int = Field(ge=0)
    round_to: int = Field(ge=1)


class Thesis(_Frozen):
    """The book's title page (``thesis:`` in ``study.yaml``): written into ``_quarto.yml``'s ``book:`` metadata by
    :func:`beyond_averages.book.title_page.write_book_metadata`."""

    title: str = Field(min_length=1)
    subtitle: str | None = None
    author: str = Field(min_length=1)
    institution: str = Field(min_length=1)
    data_cut: dt.date  # the date the extract was taken: the book's date, fixed so the HTML is byte-stable


class Study(_Frozen):
    extract_dir: Path
    study_start: dt.date
    study_end: dt.date
    covid_start: dt.date
    default_area: str
    disclosure: DisclosureSettings
    synthetic: Synthetic
    thesis: Thesis | None = None
    equity_dimension: EquityDimension = "imd_quintile"

    @model_validator(mode="after")
    def _dates(self):
        for key in ("study_start", "study_end", "covid_start"):
            if getattr(self, key).day != 1:
                raise ValueError(f"{key} must be the first day of a month")
        if self.study_end <= self.study_start:
            raise ValueError("study_end must be after study_start")
        if self.thesis is not None and self.thesis.data_cut < self.study_end:
            raise ValueError(f"thesis.data_cut {self.thesis.data_cut} is before study_end {self.study_end}: the "
                             "extract cannot end after it was taken")
        return self

    @property
    def n_months(self) -> int:
        return (self.study_end.year - self.study_start.year) * 12 + self.study_end.month - self.study_start.month + 1

    @property
    def disclosure_rules(self) -> DisclosureRules:
        return DisclosureRules(self.disclosure.redact_at_or_below, self.disclosure.round_to)

    def resolved_extract_dir(self, root: Path | None = None) -> Path:
        root = root or paths.ROOT
        return self.extract_dir if self.extract_dir.is_absolute() else root / self.extract_dir

    def area_inputs(self, area: str, measures_path=None, programme_path=None) -> tuple[Path, Path]:
        """The measures and programme files of an area's chapters: the given paths (relative ones from the
        repository root) or the defaults, ``outputs/measures/<area>.parquet`` and ``programme_<area>.parquet`` in
        the study's extract: the files ``make`` writes."""
        measures = paths.resolve(measures_path) if measures_path else paths.MEASURES_DIR / f"{area}.parquet"
        programme = (paths.resolve(programme_path) if programme_path
                     else self.resolved_extract_dir() / f"programme_{area}.parquet")
        return measures, programme


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (a typo?)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{path}: key '{key}': {msg}")
    return "\n".join(lines)


def _load_yaml(path: Path) -> dict:
    return read_yaml_mapping(path, ConfigError, " (configuration file)")


def load_study(path: str | Path | None = None) -> Study:
    path = Path(path) if path else paths.ROOT / "study.yaml"
    data = _load_yaml(path)
    try:
        return Study.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(path, err)) from None


def load_area(area: str | Path) -> Area:
    """Load an area by name (``areas/<name>.yaml``) or by path."""
    path = Path(area) if str(area).endswith((".yaml", ".yml")) else paths.area_file(str(area))
    if not path.exists():
        known = sorted(p.stem for p in paths.AREAS_DIR.glob("*.yaml"))
        raise ConfigError(f"{path}: no such area file; known areas: {', '.join(known)}")
    data = _load_yaml(path)
    try:
        area_obj = Area.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(path, err)) from None
    if area_obj.name != path.stem:
        raise ConfigError(f"{path}: key 'name' is {area_obj.name!r} but must match the file name {path.stem!r}")
    return area_obj


def list_areas() -> list[str]:
    return sorted(p.stem for p in paths.AREAS_DIR.glob("*.yaml"))
