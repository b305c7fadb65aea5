// The access log, newest first; $user / $entity filter when not null.
MATCH (a:AccessLog)
WHERE ($user IS NULL OR a.user = $user) AND ($entity IS NULL OR a.entity = $entity)
RETURN a.event_id AS event_id, toString(a.at) AS at, a.user AS user, a.role AS role,
       coalesce(a.action, 'view') AS action, a.page AS page, a.entity AS entity, a.fields AS fields,
       a.masked AS masked, a.n_records AS n_records, a.seq AS seq
ORDER BY a.at DESC, a.event_id
LIMIT $limit
