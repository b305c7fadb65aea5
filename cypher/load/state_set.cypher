MERGE (s:LoadState {key: $key})
SET s.rows_done = $rows_done, s.fingerprint = $fingerprint, s.table = $table, s.mode = $mode,
    s.updated_at = localdatetime()
