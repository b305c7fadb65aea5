// A tip-off's named entities matched against the findings: each entity's risk score and the
// active leads that include it (with their score and state).
MATCH (t:Tipoff {tipoff_id: $tipoff_id})-[:NAMES]->(e)
OPTIONAL MATCH (l:Lead)-[:INCLUDES]->(e) WHERE coalesce(l.active, true)
WITH e, CASE WHEN e:Person THEN 'person' WHEN e:Physician THEN 'physician' ELSE 'institution' END AS entity_type,
     collect(CASE WHEN l IS NULL THEN null ELSE {lead_id: l.lead_id, score: l.score, status: coalesce(l.status, 'new')} END) AS leads
RETURN entity_type, coalesce(e.person_id, e.physician_id, e.institution_id) AS entity_id, e.risk_score AS risk_score,
       [x IN leads | x.lead_id] AS lead_ids, reduce(m = 0.0, x IN leads | CASE WHEN x.score > m THEN x.score ELSE m END) AS best_lead_score
ORDER BY coalesce(e.risk_score, 0.0) DESC, entity_id
