// Change a lead's disposal state and record the change as a LeadEvent.
// Optimistic locking: the write happens only when the lead is still at
// $from_status and $version (what the user saw); otherwise no row returns and
// the app reports the conflict. The lead's write lock is taken first (a
// throwaway property), so the check reads the last committed state: two
// officers submitting at the same moment cannot both pass it (read-committed
// isolation would otherwise let both through -- a lost update).
// $deadline: 'YYYY-MM-DD' or null; $at: ISO local time.
MATCH (l:Lead {lead_id: $lead_id})
SET l._lock = true
REMOVE l._lock
WITH l
WHERE coalesce(l.status, 'new') = $from_status AND coalesce(l.version, 0) = $version
SET l.status = $to_status,
    l.assignee = $assignee,
    l.deadline = CASE WHEN $deadline IS NULL THEN null ELSE date($deadline) END,
    l.recovered = $recovered,
    l.outcome = $outcome,
    l.updated_at = localdatetime($at),
    l.version = coalesce(l.version, 0) + 1,
    l.referred = coalesce(l.referred, false) OR $to_status = '移送公安'
CREATE (l)-[:HAS_EVENT]->(e:LeadEvent {
    event_id: $event_id, at: localdatetime($at), user: $user, role: $role,
    action: $action, from_status: $from_status, to_status: $to_status,
    assignee: $assignee, note: $note, recovered: $recovered, outcome: $outcome})
SET e.deadline = l.deadline
RETURN e.event_id AS event_id, l.version AS version
