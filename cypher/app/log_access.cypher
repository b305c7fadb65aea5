// Record one access-log entry and move the log's chain head to it, in one
// transaction (store/audit.py). Idempotent on event_id, so a retried
// transaction never writes the record twice; the head only moves forward.
// The head keeps the file's $path, so a deleted, emptied or replaced file is
// still compared with it (cypher/app/audit_heads.cypher).
MERGE (a:AccessLog {event_id: $event_id})
ON CREATE SET a.at = localdatetime($at), a.user = $user, a.role = $role, a.action = $action,
              a.page = $page, a.entity = $entity, a.fields = $fields,
              a.masked = $masked, a.n_records = $n_records, a.log_id = $log_id, a.seq = $seq, a.mac = $mac
MERGE (h:AuditHead {log_id: $log_id})
ON CREATE SET h.seq = 0
SET h.path = $path
WITH a, h
FOREACH (_ IN CASE WHEN h.seq < $seq THEN [1] ELSE [] END |
  SET h.seq = $seq, h.mac = $mac, h.at = localdatetime($at))
RETURN a.event_id AS event_id, h.seq AS head_seq
