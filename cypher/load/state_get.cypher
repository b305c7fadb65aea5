// How many rows of a table a previous (possibly interrupted) load committed, and whether
// that load was a deliberate re-load (mode 'reload': a resume goes on replacing).
MATCH (s:LoadState {key: $key})
RETURN s.rows_done AS rows_done, s.fingerprint AS fingerprint, coalesce(s.mode, 'load') AS mode, s.reason AS reason,
       toString(s.updated_at) AS updated_at
