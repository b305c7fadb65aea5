// The chain head of one access log (store/audit.py): the last entry's seq and mac.
MATCH (h:AuditHead {log_id: $log_id})
RETURN h.seq AS seq, h.mac AS mac, toString(h.at) AS at
