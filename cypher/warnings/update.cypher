// A handler's note on one warning (核查/反馈): status and note, with who and when.
// $status: 'open', 'checking', 'explained', 'referred'; returns the warning id, or nothing if unknown.
MATCH (w:Warning {warning_id: $warning_id})
SET w.status = $status, w.handler = $user, w.handled_at = localdatetime($at),
    w.note = coalesce($note, w.note)
RETURN w.warning_id AS warning_id, w.status AS status
