// The individual visits of a lead (evidence package): same membership rule as
// lead_subgraph_visits, one row per settlement with its claim total.
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
OPTIONAL MATCH (v)-[:PAID_BY]->(payer:Person)
RETURN v.visit_id AS visit_id, v.visit_type AS visit_type,
       toString(v.start_time) AS start_time, toString(v.end_time) AS end_time,
       p.person_id AS person_id, p.name AS person_name,
       i.institution_id AS institution_id, d.physician_id AS physician_id,
       v.diagnosis_codes AS diagnosis_codes, v.total_amount AS total_amount,
       v.fund_paid AS fund_paid, v.account_paid AS account_paid,
       payer.person_id AS payer_person_id, v.terminal_id AS terminal_id,
       COUNT { (v)-[:HAS_LINE]->() } AS n_lines
ORDER BY start_time, visit_id
LIMIT $limit
