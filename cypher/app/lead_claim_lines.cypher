// The claim lines behind a lead's money: every line of the visits that tie the
// ring together (same membership rule as lead_visits), with the item.
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
MATCH (v)-[:HAS_LINE]->(cl:ClaimLine)
OPTIONAL MATCH (cl)-[:OF_ITEM]->(t:Item)
RETURN v.visit_id AS visit_id, toString(v.start_time) AS start_time, p.person_id AS person_id,
       p.name AS person_name, i.institution_id AS institution_id, d.physician_id AS physician_id,
       cl.line_id AS line_id, cl.item_code AS item_code, t.name AS item_name, t.item_type AS item_type,
       cl.quantity AS quantity, cl.unit_price AS unit_price, cl.amount AS amount, cl.days_supply AS days_supply
ORDER BY start_time, visit_id, line_id
LIMIT $limit
