// Close one access log's chain head on a rotation (store/audit.py rotate_log):
// the file moves to $archive and a new log (a new log_id) starts at the old
// path; verify_log then no longer expects the old log at that path.
MATCH (h:AuditHead {log_id: $log_id})
SET h.rotated_at = localdatetime($at), h.archive = $archive
RETURN h.log_id AS log_id, h.seq AS seq
