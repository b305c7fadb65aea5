// Verification result of each capture, and the face identity it belongs to.
// $rows: {capture_id, verdict, distance, related_person_id, face_id}
UNWIND $rows AS row
MATCH (c:FaceCapture {capture_id: row.capture_id})
SET c.verdict = row.verdict, c.distance = row.distance, c.related_person_id = row.related_person_id
WITH c, row
OPTIONAL MATCH (c)-[old:OF_FACE]->(g:FaceIdentity)
WHERE row.face_id IS NULL OR g.face_id <> row.face_id
DELETE old
WITH DISTINCT c, row
OPTIONAL MATCH (f:FaceIdentity {face_id: row.face_id})
FOREACH (_ IN CASE WHEN f IS NULL THEN [] ELSE [1] END | MERGE (c)-[:OF_FACE]->(f))
