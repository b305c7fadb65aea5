// Record one view of personal data (idempotent on event_id, so a retried
// transaction never writes the record twice).
MERGE (a:AccessLog {event_id: $event_id})
ON CREATE SET a.at = localdatetime($at), a.user = $user, a.role = $role,
              a.page = $page, a.entity = $entity, a.fields = $fields,
              a.masked = $masked, a.n_records = $n_records
RETURN a.event_id AS event_id
