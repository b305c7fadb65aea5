// Face identities seen presenting the credentials of a lead's persons when the
// face is not the credential holder's own (another person's face, or an
// unenrolled face that presented several credentials), aggregated per (face identity, claimed person,
// month), with the person the identity is enrolled as (when it matches one) and whether
// that person is a member of the lead (for scoping).
MATCH (l:Lead {lead_id: $lead_id})-[:INCLUDES]->(p:Person)
MATCH (c:FaceCapture)-[:CLAIMED]->(p)
MATCH (c)-[:OF_FACE]->(f:FaceIdentity)
OPTIONAL MATCH (f)-[:ENROLLED_AS]->(q:Person)
WITH l, f, p, q, c
WHERE (q IS NOT NULL AND q <> p) OR (q IS NULL AND coalesce(f.n_credentials, 0) > 1)
WITH l, f, p, q, c, substring(toString(c.capture_time), 0, 7) AS month
RETURN f.face_id AS face_id, f.n_credentials AS n_credentials,
       p.person_id AS person_id, p.name AS person_name,
       q.person_id AS enrolled_person_id, q.name AS enrolled_name, q.district AS enrolled_district,
       EXISTS { (l)-[:INCLUDES]->(q) } AS enrolled_is_member,
       month, count(c) AS n_captures,
       sum(CASE WHEN c.verdict = 'mismatch' THEN 1 ELSE 0 END) AS n_mismatch,
       min(c.distance) AS min_distance
ORDER BY month, face_id, person_id
LIMIT $limit
