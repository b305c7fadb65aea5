// Profile of one person, physician or institution ($entity_type, $entity_id).
CALL () {
  MATCH (n:Person {person_id: $entity_id}) WHERE $entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
RETURN $entity_type AS entity_type, $entity_id AS entity_id,
       n {.*, birth_date: toString(n.birth_date), death_date: toString(n.death_date)} AS props,
       COUNT { (n)<-[:FOR_PERSON|BY|AT]-(:Visit) } AS n_visits,
       COUNT { (n)<-[:AGAINST]-(:RuleHit) } AS n_rule_hits,
       [(n)<-[:INCLUDES]-(l:Lead) | l.lead_id] AS lead_ids,
       [(c:Case)-[:CONCERNS]->(n) | c {.case_id, .label, .scheme, closed_on: toString(c.closed_on)}] AS cases
