// The notes pinned to the nodes of a lead's graph, newest first.
MATCH (:Lead {lead_id: $lead_id})-[:HAS_NOTE]->(n:NodeNote)
RETURN n.note_id AS note_id, n.node_key AS node_key, n.text AS text, n.user AS user, toString(n.at) AS at
ORDER BY n.at DESC, n.note_id
