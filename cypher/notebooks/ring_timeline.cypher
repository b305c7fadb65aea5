// Notebook 01: month by month, the ring's settlements (same membership rule as
// ring_visits), the persons active, money, rule hits on those settlements and
// face-verification mismatches on the members' credentials.
// $lead_id
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
CALL (p, places) {
  MATCH (v:Visit)-[:FOR_PERSON]->(p)
  MATCH (v)-[:AT]->(i:Institution)
  OPTIONAL MATCH (v)-[:BY]->(d:Physician)
  WITH v, i, d, places
  WHERE size(places) = 0 OR i IN places OR d IN places
     // a resale ring's collector: a line whose pack (trace code) was settled again at a member place
     OR EXISTS { MATCH (v)-[:HAS_LINE]->(:ClaimLine)<-[:DISPENSED_IN]-(:Pack)-[:DISPENSED_IN]->(:ClaimLine)
                       <-[:HAS_LINE]-(:Visit)-[:AT]->(j:Institution) WHERE j IN places }
  RETURN DISTINCT v.month AS month, 1 AS visit, coalesce(v.total_amount, 0.0) AS amount,
         coalesce(v.fund_paid, 0.0) AS fund_paid, COUNT { (:RuleHit)-[:ON_VISIT]->(v) } AS hits,
         0 AS mismatch, v.visit_id AS key
  UNION ALL
  MATCH (c:FaceCapture)-[:CLAIMED]->(p)
  WHERE c.verdict = 'mismatch'
  RETURN substring(toString(c.capture_time), 0, 7) AS month, 0 AS visit, 0.0 AS amount,
         0.0 AS fund_paid, 0 AS hits, 1 AS mismatch, c.capture_id AS key
}
WITH month, p, visit, amount, fund_paid, hits, mismatch
RETURN month,
       sum(visit) AS n_visits,
       count(DISTINCT CASE WHEN visit = 1 THEN p END) AS n_active_persons,
       sum(amount) AS amount,
       sum(fund_paid) AS fund_paid,
       sum(hits) AS n_rule_hits,
       sum(mismatch) AS n_face_mismatches
ORDER BY month
