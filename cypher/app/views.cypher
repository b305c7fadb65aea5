// The saved views of a lead's graph, newest first.
MATCH (:Lead {lead_id: $lead_id})-[:HAS_VIEW]->(v:SavedView)
RETURN v.view_id AS view_id, v.name AS name, v.state AS state, v.user AS user, toString(v.at) AS at
ORDER BY v.at DESC, v.view_id
