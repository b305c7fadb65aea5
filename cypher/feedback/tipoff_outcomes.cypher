// Tip-offs closed with a verified amount (举报查实): the entities they name (matched in the graph)
// and when the tip-off was closed. A tip-off closed without a verified amount clears nobody (the
// report was not substantiated; the entities were not investigated and found clean).
MATCH (t:Tipoff {status: 'closed'})-[:NAMES]->(m)
WHERE coalesce(t.verified_amount, 0.0) > 0
RETURN t.tipoff_id AS tipoff_id, toString(coalesce(t.updated_at, localdatetime(t.received_on))) AS closed_at,
       CASE WHEN m:Person THEN 'person' WHEN m:Physician THEN 'physician' ELSE 'institution' END AS entity_type,
       coalesce(m.person_id, m.physician_id, m.institution_id) AS entity_id
ORDER BY tipoff_id, entity_type, entity_id
