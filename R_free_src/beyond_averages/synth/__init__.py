"""Synthetic primary-care extract generator (stands in for a real trusted-research-environment extract).

``generate_population`` writes practices and patients; ``generate_area`` writes one clinical area's events,
programme adoption and ground truth. Planted effects are configuration (``areas/<area>.yaml``, ``effects_pp``) and
the scenario an argument, so tests can check that estimators recover them.
"""

from .extract import SyntheticSettings, assign_programme, generate_area, generate_population

__all__ = ["SyntheticSettings", "assign_programme", "generate_area", "generate_population"]
