// How many rows of a table a previous (possibly interrupted) load committed.
MATCH (s:LoadState {key: $key})
RETURN s.rows_done AS rows_done, s.fingerprint AS fingerprint
