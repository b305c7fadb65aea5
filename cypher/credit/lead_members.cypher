// The physicians and institutions a lead includes: whose credit its disposal may change.
MATCH (:Lead {lead_id: $lead_id})-[:INCLUDES]->(n)
WHERE n:Physician OR n:Institution
RETURN CASE WHEN n:Physician THEN 'physician' ELSE 'institution' END AS entity_type,
       coalesce(n.physician_id, n.institution_id) AS entity_id
ORDER BY entity_type, entity_id
