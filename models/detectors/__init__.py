"""The detectors, one per file (PyOD style): each module defines one
:class:`ringscope.models.base.BaseDetector` whose ``name`` is the module's name.

The registry (:mod:`ringscope.models.registry`) finds them by listing this
package; their parameters' defaults are in ``models/defaults.yaml``.
Helpers shared by several detectors are in ``_util`` (not a detector).
"""
