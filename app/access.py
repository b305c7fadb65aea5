"""Roles, masking and the access log, as the app sees them.

The rules themselves live below the pages, in :mod:`ringscope.store.access`
(roles, scope, masking) and :mod:`ringscope.store.audit` (the tamper-evident
log); the data layer :mod:`ringscope.store.reads` applies them to every read
and write. This module re-exports them for the pages and notebooks.

>>> policy("leader").assign
True
"""
from __future__ import annotations

from ringscope.store.access import (  # noqa: F401
    ALL_DISTRICTS, PERSONAL_FIELDS, POLICIES, ROLE_LABELS, ROLE_LABELS_EN, ROLES, Caller, PermissionDenied,
    Policy, fields_shown, mask_birth_date, mask_frame, mask_id_number, mask_name, personal_columns,
    pixelate_image, policy,
)
from ringscope.store.audit import AccessEvent, AccessLogger, access_log_path, verify_log  # noqa: F401

__all__ = ["ROLES", "ROLE_LABELS", "ROLE_LABELS_EN", "ALL_DISTRICTS", "Policy", "POLICIES", "policy", "Caller",
           "PermissionDenied", "PERSONAL_FIELDS", "mask_name", "mask_id_number", "mask_birth_date", "mask_frame",
           "personal_columns", "fields_shown", "pixelate_image", "AccessEvent", "AccessLogger", "access_log_path",
           "verify_log"]
