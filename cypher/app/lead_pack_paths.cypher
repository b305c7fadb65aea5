// The packs behind a lead (药品追溯码): codes settled more than once where one of the
// settlements was to a member person (a collector's fill) or at a member institution (an
// outlet's re-sale), at most $limit codes, each with every settlement it passed through in
// order (seq) -- the ring explorer's pack path and the evidence package's pack_paths.csv.
// Refunded settlements (reversed) stay in the path, marked.
MATCH (:Lead {lead_id: $lead_id})-[:INCLUDES]->(m)
WITH collect(m) AS members
UNWIND [m IN members WHERE m:Person OR m:Institution] AS m
CALL (m) {
  MATCH (m)<-[:FOR_PERSON|AT]-(:Visit)-[:HAS_LINE]->(:ClaimLine)<-[:DISPENSED_IN]-(p:Pack)
  WHERE p.n_settlements > 1
  RETURN DISTINCT p
}
WITH DISTINCT members, p ORDER BY p.trace_code LIMIT $limit
MATCH (p)-[d:DISPENSED_IN]->(l:ClaimLine)<-[:HAS_LINE]-(v:Visit)
MATCH (v)-[:AT]->(i:Institution)
MATCH (v)-[:FOR_PERSON]->(per:Person)
OPTIONAL MATCH (v)-[:BY]->(doc:Physician)
OPTIONAL MATCH (l)-[:OF_ITEM]->(it:Item)
RETURN p.trace_code AS trace_code, p.n_settlements AS n_settlements, d.seq AS seq,
       toString(d.at) AS at, coalesce(d.reversed, false) AS reversed,
       l.line_id AS line_id, v.visit_id AS visit_id,
       per.person_id AS person_id, per.name AS person_name, per IN members AS person_member,
       i.institution_id AS institution_id, i.name AS institution, i.kind AS institution_kind,
       i IN members AS institution_member,
       doc.physician_id AS physician_id, l.item_code AS item_code, it.name AS drug,
       l.quantity AS quantity, l.amount AS line_amount
ORDER BY trace_code, seq
