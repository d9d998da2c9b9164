"""Every series colour of the figures contrasts at least 3:1 with the white page (WCAG 2.1, 1.4.11 non-text
contrast), and the contrast formula gives WCAG's own reference values."""

from __future__ import annotations

import pytest

from beyond_averages import style


def test_contrast_formula_gives_the_wcag_reference_values():
    assert style.contrast_ratio("#000000") == pytest.approx(21.0)
    assert style.contrast_ratio("#ffffff") == pytest.approx(1.0)
    assert style.contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)  # the lightest grey passing 4.5:1


@pytest.mark.parametrize("name, colour", [
    *((f"Q{q}", c) for q, c in style.QUINTILE_COLOURS.items()),
    ("overall", style.OVERALL_COLOUR), ("treated", style.TREATED_COLOUR), ("comparison", style.COMPARISON_COLOUR),
])
def test_every_series_contrasts_3_to_1_with_the_page(name, colour):
    assert style.contrast_ratio(colour) >= 3.0, f"{name} {colour}: {style.contrast_ratio(colour):.2f}:1"


def test_quintile_colours_are_distinct():
    assert len(set(style.QUINTILE_COLOURS.values())) == 5
