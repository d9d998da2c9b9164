"""Areas are configuration: each file validates, and a typo or missing key names the file and the key."""

from __future__ import annotations

import pytest
import yaml

from beyond_averages import config, paths


def test_every_area_validates():
    names = config.list_areas()
    assert {"hypertension_case_finding", "cervical_screening", "diabetes_care", "childhood_immunisations"} <= set(names)
    for name in names:
        area = config.load_area(name)
        assert area.name == name
        assert set(area.synthetic.effects_pp) == set(config.SCENARIOS)


def test_default_area_is_hypertension_case_finding():
    study = config.load_study()
    assert study.default_area == "hypertension_case_finding"
    assert config.load_area(study.default_area).core20plus5
    assert study.n_months == 84


def _write_variant(tmp_path, edit):
    data = yaml.safe_load(paths.area_file("cervical_screening").read_text())
    edit(data)
    path = tmp_path / "cervical_screening.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_typo_names_file_and_key(tmp_path):
    path = _write_variant(tmp_path, lambda d: d["indicator"].update(lookbak_months=3))
    with pytest.raises(config.ConfigError, match=r"cervical_screening.yaml: key 'indicator.lookbak_months': unknown key"):
        config.load_area(path)


def test_missing_key_names_file_and_key(tmp_path):
    path = _write_variant(tmp_path, lambda d: d["indicator"].pop("codelist"))
    with pytest.raises(config.ConfigError, match=r"key 'indicator.codelist': required key is missing"):
        config.load_area(path)


def test_unknown_codelist_and_bad_quintiles(tmp_path):
    path = _write_variant(tmp_path, lambda d: d["indicator"].update(codelist="smear"))
    with pytest.raises(config.ConfigError, match="indicator.codelist names codelist 'smear'"):
        config.load_area(path)
    path = _write_variant(tmp_path, lambda d: d["synthetic"]["baseline_by_quintile"].pop(3))
    with pytest.raises(config.ConfigError, match="baseline_by_quintile.*one value for each IMD quintile"):
        config.load_area(path)


def test_unknown_area_lists_known_ones():
    with pytest.raises(config.ConfigError, match="known areas: .*hypertension_case_finding"):
        config.load_area("hypertension")


def test_eligibility_ages_in_years_and_months():
    e = config.Eligibility(age_min_years=25, age_max_years=49)
    assert (e.min_age_months, e.max_age_months) == (300, 599)
    e = config.Eligibility(age_min_months=24, age_max_months=35)
    assert (e.min_age_months, e.max_age_months) == (24, 35)
    with pytest.raises(ValueError, match="not both"):
        config.Eligibility(age_min_years=1, age_min_months=12)
