// Notebook 01: the settlements that tie a lead together, one row per visit.
// A visit belongs to the ring when its credential holder is a member person and
// its institution or physician is a member too; a lead without member
// institutions or physicians takes all its persons' visits.
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
WITH [m IN members WHERE m:Person] AS persons,
     [m IN members WHERE m:Physician OR m:Institution] AS places
UNWIND persons AS p
MATCH (v:Visit)-[:FOR_PERSON]->(p)
MATCH (v)-[:AT]->(i:Institution)
OPTIONAL MATCH (v)-[:BY]->(d:Physician)
WITH p, v, i, d, places
WHERE size(places) = 0 OR i IN places OR d IN places
   // a resale ring's collector: a line whose pack (trace code) was settled again at a member place
   OR EXISTS { MATCH (v)-[:HAS_LINE]->(:ClaimLine)<-[:DISPENSED_IN]-(:Pack)-[:DISPENSED_IN]->(:ClaimLine)
                     <-[:HAS_LINE]-(:Visit)-[:AT]->(j:Institution) WHERE j IN places }
OPTIONAL MATCH (v)-[:PAID_BY]->(payer:Person)
RETURN v.visit_id AS visit_id,
       v.month AS month,
       toString(v.start_time) AS start_time,
       v.visit_type AS visit_type,
       p.person_id AS person_id,
       i.institution_id AS institution_id,
       d.physician_id AS physician_id,
       v.diagnosis_codes AS diagnosis_codes,
       v.total_amount AS total_amount,
       v.fund_paid AS fund_paid,
       payer.person_id AS payer_person_id,
       COUNT { (v)-[:HAS_LINE]->() } AS n_lines,
       COUNT { (:RuleHit)-[:ON_VISIT]->(v) } AS n_rule_hits,
       COUNT { (c:FaceCapture)-[:DURING]->(v) WHERE c.verdict = 'mismatch' } AS n_face_mismatches
ORDER BY start_time, visit_id
LIMIT $limit
