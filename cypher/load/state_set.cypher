// Rows of a table version committed so far; mode 'reload' (with its reason) while a
// deliberate re-load is under way, so a resume goes on replacing.
MERGE (s:LoadState {key: $key})
SET s.rows_done = $rows_done, s.fingerprint = $fingerprint, s.table = $table, s.mode = $mode,
    s.reason = $reason, s.updated_at = localdatetime()
