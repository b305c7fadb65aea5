"""The orchestrator of ``ringscope detect``: configuration, stages, results.

:func:`detect` runs a dataset through validate → ingest (store) → the
registered detectors stage by stage → fusion → results → findings (store).
See :mod:`ringscope.pipeline.run`.
"""
from ringscope.pipeline.run import RESULT_FILES, detect, explanation_targets, plan, previous_leads

__all__ = ["detect", "RESULT_FILES", "explanation_targets", "plan", "previous_leads"]
