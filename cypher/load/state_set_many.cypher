// LoadState of several tables at once (the bulk import records every table when it is done);
// the same properties as state_set.
UNWIND $rows AS s
MERGE (x:LoadState {key: s.key})
SET x.rows_done = s.rows_done, x.fingerprint = s.fingerprint, x.table = s.table,
    x.mode = coalesce(s.mode, 'load'), x.updated_at = localdatetime()
