// Scope: $districts (the capturing institution's; null = whole city).
// Face captures with the enrolment they were compared with.
// $verdicts: list (empty = any); $institution_id, $person_id, $face_id: string
// or null; $min_distance: float; paging. Image paths are the dataset's own
// (relative to the dataset directory) when it had images.
MATCH (c:FaceCapture)
WHERE (size($verdicts) = 0 OR c.verdict IN $verdicts)
  AND coalesce(c.distance, 0.0) >= $min_distance
OPTIONAL MATCH (c)-[:CLAIMED]->(p:Person)
OPTIONAL MATCH (c)-[:OF_FACE]->(f:FaceIdentity)
OPTIONAL MATCH (f)-[:ENROLLED_AS]->(q:Person)
OPTIONAL MATCH (c)-[:AT]->(i:Institution)
OPTIONAL MATCH (c)-[:DURING]->(v:Visit)
WITH c, p, f, q, i, v
WHERE ($institution_id IS NULL OR i.institution_id = $institution_id)
  AND ($districts IS NULL OR i.district IN $districts)
  AND ($person_id IS NULL OR p.person_id = $person_id OR q.person_id = $person_id)
  AND ($face_id IS NULL OR f.face_id = $face_id)
RETURN c.capture_id AS capture_id, toString(c.capture_time) AS capture_time,
       c.location AS location, c.verdict AS verdict, c.distance AS distance,
       c.image_path AS capture_image,
       p.person_id AS claimed_person_id, p.name AS claimed_name,
       p.id_number AS claimed_id_number, toString(p.birth_date) AS claimed_birth_date, p.enrollment_image AS claimed_enrollment_image,
       f.face_id AS face_id, f.n_credentials AS n_credentials,
       q.person_id AS enrolled_person_id, q.name AS enrolled_name,
       i.institution_id AS institution_id, v.visit_id AS visit_id
ORDER BY CASE c.verdict WHEN 'mismatch' THEN 0 WHEN 'related' THEN 1 ELSE 2 END,
         coalesce(c.distance, 0.0) DESC, capture_id
SKIP $skip LIMIT $limit
