// The version of a table loaded most recently (whose values the graph holds).
MATCH (s:LoadState {table: $table})
RETURN s.key AS key, s.fingerprint AS fingerprint, toString(s.updated_at) AS updated_at
ORDER BY s.updated_at DESC
LIMIT 1
