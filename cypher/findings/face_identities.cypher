// Face identities (clusters of captured faces) and the person each is enrolled as.
// $rows: {face_id, n_captures, n_credentials, n_institutions, enrolled_person_id, first_seen, last_seen}
UNWIND $rows AS row
MERGE (f:FaceIdentity {face_id: row.face_id})
SET f.n_captures = row.n_captures, f.n_credentials = row.n_credentials,
    f.n_institutions = row.n_institutions,
    f.first_seen = CASE WHEN row.first_seen IS NULL THEN null ELSE localdatetime(row.first_seen) END,
    f.last_seen = CASE WHEN row.last_seen IS NULL THEN null ELSE localdatetime(row.last_seen) END,
    f.run_id = $run_id
WITH f, row
OPTIONAL MATCH (f)-[old:ENROLLED_AS]->(q:Person)
WHERE row.enrolled_person_id IS NULL OR q.person_id <> row.enrolled_person_id
DELETE old
WITH DISTINCT f, row
OPTIONAL MATCH (p:Person {person_id: row.enrolled_person_id})
FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | MERGE (f)-[:ENROLLED_AS]->(p))
