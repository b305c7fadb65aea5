"""Graph detectors of collusion networks, one per file (PyOD style).

Every detector is a :class:`ringscope.models.base.BaseDetector`: configured in
``__init__``, ``fit(ctx)`` sets ``decision_scores_``, ``findings_`` and
``groups_`` (candidate rings with a scheme, calibrated score, amount at risk,
a summary and re-runnable evidence). :data:`DETECTORS` maps names to classes.
"""
from __future__ import annotations

from ringscope.graph.detectors.card_cashout import CardCashoutDetector
from ringscope.graph.detectors.card_lending import CardLendingDetector
from ringscope.graph.detectors.collusive_prescribing import CollusivePrescribingDetector
from ringscope.graph.detectors.doctor_shopping import DoctorShoppingDetector
from ringscope.graph.detectors.ghost_admission import GhostAdmissionDetector
from ringscope.graph.detectors.guilt_by_association import GuiltByAssociationDetector
from ringscope.graph.detectors.split_admission import SplitAdmissionDetector

__all__ = [
    "DETECTORS",
    "CardLendingDetector",
    "CardCashoutDetector",
    "CollusivePrescribingDetector",
    "GhostAdmissionDetector",
    "SplitAdmissionDetector",
    "DoctorShoppingDetector",
    "GuiltByAssociationDetector",
]

DETECTORS = {
    c.name: c
    for c in (CardLendingDetector, CardCashoutDetector, CollusivePrescribingDetector, GhostAdmissionDetector,
              SplitAdmissionDetector, DoctorShoppingDetector, GuiltByAssociationDetector)
}
