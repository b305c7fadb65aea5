// Rule hits held against one entity.
CALL () {
  MATCH (n:Person {person_id: $entity_id}) WHERE $entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
MATCH (h:RuleHit)-[:AGAINST]->(n)
OPTIONAL MATCH (h)-[:ON_VISIT]->(v:Visit)
RETURN h.hit_id AS hit_id, h.rule_id AS rule_id, h.rule_name AS rule_name,
       h.category AS category, h.severity AS severity, h.amount_at_risk AS amount_at_risk,
       h.evidence AS evidence, v.visit_id AS visit_id, v.month AS month
ORDER BY coalesce(h.amount_at_risk, 0.0) DESC, hit_id
LIMIT $limit
