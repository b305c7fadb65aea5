// Notebook 01: face identities (clusters of captured faces) that presented the
// credentials of a lead's persons when the face is not the credential holder's
// own: a face enrolled as somebody else, or an unenrolled face that presented
// several credentials. One row per face identity.
// $lead_id
// Scope: $districts (the caller's; null = whole city), $referred_only (police
// liaison): a lead outside them gives no rows (as cypher/app/lead_queue.cypher).
MATCH (l:Lead {lead_id: $lead_id})
WHERE ($districts IS NULL
       OR any(sd IN [(l)-[:INCLUDES]->(sm) WHERE sm:Person OR sm:Institution | sm.district]
                   + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(si:Institution) | si.district]
              WHERE sd IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
MATCH (l)-[:INCLUDES]->(p:Person)
MATCH (c:FaceCapture)-[:CLAIMED]->(p)
MATCH (c)-[:OF_FACE]->(f:FaceIdentity)
OPTIONAL MATCH (f)-[:ENROLLED_AS]->(q:Person)
WITH f, q, c, p
WHERE (q IS NOT NULL AND q <> p) OR (q IS NULL AND coalesce(f.n_credentials, 0) > 1)
OPTIONAL MATCH (c)-[:AT]->(i:Institution)
WITH f, q, collect(DISTINCT p.person_id) AS member_credentials, count(DISTINCT c) AS n_captures,
     sum(CASE WHEN c.verdict = 'mismatch' THEN 1 ELSE 0 END) AS n_mismatch,
     min(c.distance) AS min_distance, collect(DISTINCT i.institution_id) AS institutions,
     min(c.capture_time) AS first_seen, max(c.capture_time) AS last_seen
RETURN f.face_id AS face_id,
       q.person_id AS enrolled_as,
       member_credentials,
       size(member_credentials) AS n_member_credentials,
       f.n_credentials AS n_credentials_all,
       n_captures,
       n_mismatch,
       min_distance,
       institutions,
       toString(first_seen) AS first_seen,
       toString(last_seen) AS last_seen
ORDER BY n_member_credentials DESC, n_captures DESC, face_id
