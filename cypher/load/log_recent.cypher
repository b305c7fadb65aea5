// The load log, newest first (all tables, or one).
MATCH (e:LoadLog)
WHERE $table IS NULL OR e.table = $table
RETURN toString(e.at) AS at, e.table AS table, e.action AS action, e.rows AS rows,
       e.rows_before AS rows_before, e.fingerprint AS fingerprint, e.user AS user, e.host AS host,
       e.pid AS pid, e.reason AS reason, e.dataset AS dataset
ORDER BY e.at DESC, e.table
LIMIT $limit
