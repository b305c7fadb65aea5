UNWIND $rows AS r
MERGE (c:FaceCapture {capture_id: r.capture_id})
SET c.location = r.location, c.capture_time = localdatetime(r.capture_time),
    c.image_path = r.image_path, c.claimed_person_id = r.claimed_person_id
WITH c, r
MATCH (i:Institution {institution_id: r.institution_id})
MERGE (c)-[:AT]->(i)
WITH c, r
CALL (c, r) {
  MATCH (v:Visit {visit_id: r.visit_id})
  MERGE (c)-[:DURING]->(v)
}
CALL (c, r) {
  MATCH (p:Person {person_id: r.claimed_person_id})
  MERGE (c)-[:CLAIMED]->(p)
}
