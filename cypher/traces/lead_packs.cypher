// The packs of a resale lead (the evidence package's code list): codes settled to one of
// $persons (the collectors) and settled again later at one of $institutions (the outlets),
// at most $limit of them, each with every settlement it passed through, in order.
MATCH (per:Person)<-[:FOR_PERSON]-(:Visit)-[:HAS_LINE]->(:ClaimLine)<-[d1:DISPENSED_IN]-(p:Pack)
WHERE per.person_id IN $persons AND p.n_settlements > 1
MATCH (p)-[d2:DISPENSED_IN]->(:ClaimLine)<-[:HAS_LINE]-(:Visit)-[:AT]->(out:Institution)
WHERE out.institution_id IN $institutions AND d2.seq > d1.seq
WITH DISTINCT p ORDER BY p.trace_code LIMIT $limit
MATCH (p)-[d:DISPENSED_IN]->(l:ClaimLine)<-[:HAS_LINE]-(v:Visit)
MATCH (v)-[:AT]->(i:Institution)
MATCH (v)-[:FOR_PERSON]->(x:Person)
WITH p, d, l, v, i, x ORDER BY p.trace_code, d.seq
RETURN p.trace_code AS trace_code,
       collect({seq: d.seq, at: d.at, reversed: d.reversed, line_id: l.line_id, visit_id: v.visit_id,
                person_id: x.person_id, institution_id: i.institution_id, line_amount: l.amount}) AS steps
ORDER BY trace_code
