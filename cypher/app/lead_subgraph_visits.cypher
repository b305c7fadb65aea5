// The visits that tie a lead together, aggregated per (person, institution,
// physician, month). A visit belongs to the ring when its person is a member
// and its institution or physician is a member too (or, for a resale ring, one of its
// packs was settled again at a member institution); a lead without member
// institutions or physicians takes all its persons' visits.
MATCH (l:Lead {lead_id: $lead_id})-[:INCLUDES]->(m)
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
RETURN p.person_id AS person_id, p.name AS person_name,
       i.institution_id AS institution_id, i.name AS institution_name, i.kind AS institution_kind,
       d.physician_id AS physician_id, d.name AS physician_name,
       d.institution_id AS physician_institution_id,
       v.month AS month, count(v) AS n_visits,
       sum(coalesce(v.total_amount, 0.0)) AS amount,
       sum(coalesce(v.fund_paid, 0.0)) AS fund_paid
ORDER BY month, person_id, institution_id
LIMIT $limit
