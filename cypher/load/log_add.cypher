// The load log: one entry per table version loaded, resumed, re-loaded or bulk-imported,
// with who (OS user, host, pid), when and why.
UNWIND $rows AS r
CREATE (e:LoadLog {event_id: r.event_id})
SET e.table = r.table, e.fingerprint = r.fingerprint, e.action = r.action, e.rows = r.rows,
    e.rows_before = r.rows_before, e.reason = r.reason, e.user = r.user, e.host = r.host,
    e.pid = r.pid, e.dataset = r.dataset, e.started_at = datetime(r.started_at), e.at = datetime()
