// Scope: $districts (null = whole city).
// Find entities of one type by id prefix (and by name when $by_name: only for
// roles cleared to see names), riskiest first; an empty $q lists the riskiest.
CALL () {
  MATCH (n:Person) WHERE $entity_type = 'person'
    AND (n.person_id STARTS WITH $q OR ($by_name AND $q <> '' AND n.name CONTAINS $q))
  RETURN n, n.person_id AS entity_id
  UNION
  MATCH (n:Physician) WHERE $entity_type = 'physician'
    AND (n.physician_id STARTS WITH $q OR ($by_name AND $q <> '' AND n.name CONTAINS $q))
  RETURN n, n.physician_id AS entity_id
  UNION
  MATCH (n:Institution) WHERE $entity_type = 'institution'
    AND (n.institution_id STARTS WITH $q OR ($by_name AND $q <> '' AND n.name CONTAINS $q))
  RETURN n, n.institution_id AS entity_id
}
WITH n, entity_id, coalesce(n.district, [(n)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) AS district
WHERE $districts IS NULL OR district IN $districts
RETURN $entity_type AS entity_type, entity_id, n.name AS name, district, n.risk_score AS risk_score
ORDER BY coalesce(n.risk_score, 0.0) DESC, entity_id
LIMIT $limit
