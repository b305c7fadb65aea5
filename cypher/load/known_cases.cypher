UNWIND $rows AS r
MERGE (c:Case {case_id: r.case_id})
SET c.label = r.label, c.scheme = r.scheme, c.entity_type = r.entity_type, c.entity_id = r.entity_id,
    c.closed_on = CASE WHEN r.closed_on IS NULL THEN null ELSE date(r.closed_on) END
WITH c, r
CALL (c, r) {
  MATCH (e:Person {person_id: r.entity_id}) WHERE r.entity_type = 'person'
  MERGE (c)-[:CONCERNS]->(e)
}
CALL (c, r) {
  MATCH (e:Physician {physician_id: r.entity_id}) WHERE r.entity_type = 'physician'
  MERGE (c)-[:CONCERNS]->(e)
}
CALL (c, r) {
  MATCH (e:Institution {institution_id: r.entity_id}) WHERE r.entity_type = 'institution'
  MERGE (c)-[:CONCERNS]->(e)
}
