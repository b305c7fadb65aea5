// A handler's status and note on one early warning (核查/反馈), with who and when; the warning's
// handling history kept as WarningEvent nodes. Returns the warning id (nothing when unknown).
MATCH (w:Warning {warning_id: $warning_id, entity_type: $entity_type, entity_id: $entity_id})
WITH w, coalesce(w.status, 'open') AS before
SET w.status = $status, w.handler = $user, w.handled_at = localdatetime($at), w.note = coalesce($note, w.note)
CREATE (w)-[:HAS_EVENT]->(:WarningEvent {event_id: $event_id, at: localdatetime($at), user: $user, role: $role,
                                          from_status: before, to_status: $status, note: $note})
RETURN w.warning_id AS warning_id, w.status AS status
