"""Ordinary rule library (医保智能监管规则库): policy, management and medical rules.

>>> from ringscope.models.rules import list_rules
>>> len(list_rules()) >= 30
True

Public API: :func:`run_rules` (rule hits in the ``rule_hits.csv`` shape plus
linking columns), :data:`RULES` / :func:`list_rules` (the registry),
:func:`load_config` (the ``rules`` section of ``models/defaults.yaml``). The
library reaches fusion through one detector,
:class:`ringscope.models.detectors.rules.RulesDetector`. Each rule is a vectorised function in one of the family modules
(``items``, ``duplicates``, ``identity``, ``settlement``, ``scope``,
``inpatient``, ``inventory``, ``prescribing``, ``traces``).
"""
from __future__ import annotations

from . import duplicates, identity, inpatient, inventory, items, prescribing, scope, settlement, traces  # noqa: F401
from .registry import EXTRA_COLUMNS, HIT_COLUMNS, RULES, Rule, list_rules, load_config, rule_defaults, run_rules

__all__ = ["run_rules", "list_rules", "load_config", "rule_defaults", "RULES", "Rule", "HIT_COLUMNS",
           "EXTRA_COLUMNS"]
