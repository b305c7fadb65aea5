// Face captures on the credentials of a lead's persons, each beside the
// claimed person's enrolment (image paths relative to the dataset), and the person the
// face is enrolled as (with whether that person is a member of the lead, for scoping).
MATCH (l:Lead {lead_id: $lead_id})-[:INCLUDES]->(p:Person)
MATCH (c:FaceCapture)-[:CLAIMED]->(p)
OPTIONAL MATCH (c)-[:OF_FACE]->(f:FaceIdentity)
OPTIONAL MATCH (f)-[:ENROLLED_AS]->(q:Person)
OPTIONAL MATCH (c)-[:AT]->(i:Institution)
RETURN c.capture_id AS capture_id, toString(c.capture_time) AS capture_time, c.verdict AS verdict,
       c.distance AS distance, c.image_path AS capture_image,
       p.person_id AS claimed_person_id, p.name AS claimed_name, p.enrollment_image AS claimed_enrollment_image,
       f.face_id AS face_id, q.person_id AS enrolled_person_id, q.name AS enrolled_name,
       q.district AS enrolled_district, EXISTS { (l)-[:INCLUDES]->(q) } AS enrolled_is_member,
       i.institution_id AS institution_id
ORDER BY CASE c.verdict WHEN 'mismatch' THEN 0 WHEN 'related' THEN 1 ELSE 2 END,
         coalesce(c.distance, 0.0) DESC, capture_id
LIMIT $limit
