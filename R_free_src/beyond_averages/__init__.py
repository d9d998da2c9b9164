"""beyond_averages: did a primary-care quality-improvement programme narrow or widen inequalities?

The package holds every piece of logic of the compendium; notebooks only call it.
Data flows one way: extract (``synth``) -> ``measures`` -> estimators (``its``, ``did``) -> ``report`` -> notebooks.
See ARCHITECTURE.md at the repository root for the module map.
"""

__version__ = "0.1.0"
