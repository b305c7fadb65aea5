// Notebook 01: the edges of a lead's subgraph for drawing, aggregated:
// person-institution and person-physician (ring settlements, same rule as
// ring_visits), physician-institution (practises at), face-person (a face
// identity 'presented' a member's credential although it is not the holder's
// own face; the person it is 'enrolled_as', when known) and family links among
// members.
// Node keys are typed ids ('person:P1', 'face:F3').
// $lead_id, $limit
// Scope: $districts (the caller's; null = whole city), $referred_only (police
// liaison): a lead outside them gives no rows (as cypher/app/lead_queue.cypher).
MATCH (l:Lead {lead_id: $lead_id})
WHERE ($districts IS NULL
       OR any(sd IN [(l)-[:INCLUDES]->(sm) WHERE sm:Person OR sm:Institution | sm.district]
                   + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(si:Institution) | si.district]
              WHERE sd IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
MATCH (l)-[:INCLUDES]->(m)
WITH collect(m) AS members
WITH members, [m IN members WHERE m:Person] AS persons,
     [m IN members WHERE m:Physician OR m:Institution] AS places
CALL (members, persons, places) {
  UNWIND persons AS p
  MATCH (v:Visit)-[:FOR_PERSON]->(p)
  MATCH (v)-[:AT]->(i:Institution)
  OPTIONAL MATCH (v)-[:BY]->(d:Physician)
  WITH p, v, i, d
  WHERE size(places) = 0 OR i IN places OR d IN places
     // a resale ring's collector: a line whose pack (trace code) was settled again at a member place
     OR EXISTS { MATCH (v)-[:HAS_LINE]->(:ClaimLine)<-[:DISPENSED_IN]-(:Pack)-[:DISPENSED_IN]->(:ClaimLine)
                       <-[:HAS_LINE]-(:Visit)-[:AT]->(j:Institution) WHERE j IN places }
  WITH p, i, d, count(v) AS n, sum(coalesce(v.total_amount, 0.0)) AS amount
  UNWIND [['institution:' + i.institution_id, 'visited'],
          CASE WHEN d IS NULL THEN null ELSE ['physician:' + d.physician_id, 'treated_by'] END] AS e
  WITH p, e, n, amount WHERE e IS NOT NULL
  RETURN 'person:' + p.person_id AS src, e[0] AS dst, e[1] AS rel, sum(n) AS n, sum(amount) AS amount
  UNION ALL
  UNWIND [x IN members WHERE x:Physician] AS d
  MATCH (d)-[:PRACTISES_AT]->(i:Institution)
  RETURN 'physician:' + d.physician_id AS src, 'institution:' + i.institution_id AS dst,
         'practises_at' AS rel, 1 AS n, 0.0 AS amount
  UNION ALL
  UNWIND persons AS p
  MATCH (c:FaceCapture)-[:CLAIMED]->(p)
  MATCH (c)-[:OF_FACE]->(f:FaceIdentity)
  OPTIONAL MATCH (f)-[:ENROLLED_AS]->(q:Person)
  WITH p, f, q, count(c) AS n
  WHERE (q IS NOT NULL AND q <> p) OR (q IS NULL AND coalesce(f.n_credentials, 0) > 1)
  UNWIND [['person:' + p.person_id, 'presented', n],
          CASE WHEN q IS NULL THEN null ELSE ['person:' + q.person_id, 'enrolled_as', 1] END] AS e
  WITH f, e WHERE e IS NOT NULL
  RETURN DISTINCT 'face:' + f.face_id AS src, e[0] AS dst, e[1] AS rel, e[2] AS n, 0.0 AS amount
  UNION ALL
  UNWIND persons AS p
  MATCH (p)-[r:FAMILY]-(o:Person)
  WHERE o IN persons AND p.person_id < o.person_id
  RETURN DISTINCT 'person:' + p.person_id AS src, 'person:' + o.person_id AS dst, 'family' AS rel,
         1 AS n, 0.0 AS amount
}
RETURN src, dst, rel, n, amount
ORDER BY n DESC, src, dst
LIMIT $limit
