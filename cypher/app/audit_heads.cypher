// Every chain head that belongs to one access log file (store/audit.py
// verify_log): the heads written for this file's path, and the head of the
// file's own log_id wherever it was written. A head with seq > 0 that is not
// the file's own and was not closed by a rotation (rotated_at) means the file
// was deleted, emptied or replaced by a chain under a new log_id.
MATCH (h:AuditHead)
WHERE h.path = $path OR h.log_id = $log_id
RETURN h.log_id AS log_id, h.seq AS seq, h.mac AS mac, h.path AS path, toString(h.at) AS at,
       toString(h.rotated_at) AS rotated_at, h.archive AS archive
ORDER BY h.log_id
