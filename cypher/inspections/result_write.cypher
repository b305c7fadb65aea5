// The result of one inspection (检查结果) recorded back: date, finding, amount, outcome; the
// inspection is done. Each recording is an InspectionEvent (who, when, what it replaced), so a
// correction keeps the earlier result. $inspection_id, $inspected_on ('YYYY-MM-DD'), $finding,
// $amount, $outcome, $user, $role, $at (ISO local time), $event_id.
MATCH (n:Inspection {inspection_id: $inspection_id})
CREATE (n)-[:HAS_EVENT]->(e:InspectionEvent {event_id: $event_id, at: localdatetime($at), user: $user,
        role: $role, inspected_on: date($inspected_on), finding: $finding, amount: $amount, outcome: $outcome,
        previous_outcome: n.outcome, previous_amount: n.amount})
SET n.status = 'done', n.inspected_on = date($inspected_on), n.finding = $finding, n.amount = $amount,
    n.outcome = $outcome, n.recorded_by = $user, n.recorded_at = localdatetime($at)
RETURN n.inspection_id AS inspection_id, n.status AS status, toString(n.inspected_on) AS inspected_on,
       n.finding AS finding, n.amount AS amount, n.outcome AS outcome, n.institution_id AS institution_id
