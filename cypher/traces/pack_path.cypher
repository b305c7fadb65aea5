// The path of each pack in $codes (药品追溯码): every settlement it passed through, in order
// (seq), with the line, visit, person, institution, dispensing physician and item -- the ring
// explorer's pack path. Ids only: names are masked above the store where a role needs it.
UNWIND $codes AS code
MATCH (p:Pack {trace_code: code})-[d:DISPENSED_IN]->(l:ClaimLine)<-[:HAS_LINE]-(v:Visit)
MATCH (v)-[:AT]->(i:Institution)
MATCH (v)-[:FOR_PERSON]->(per:Person)
OPTIONAL MATCH (v)-[:BY]->(doc:Physician)
OPTIONAL MATCH (l)-[:OF_ITEM]->(it:Item)
RETURN p.trace_code AS trace_code, p.n_settlements AS n_settlements, d.seq AS seq, d.at AS at,
       d.scan_time AS scan_time, d.reversed AS reversed, l.line_id AS line_id, v.visit_id AS visit_id,
       v.visit_type AS visit_type, per.person_id AS person_id, i.institution_id AS institution_id,
       i.kind AS institution_kind, doc.physician_id AS physician_id, it.item_code AS item_code,
       it.name AS item_name, l.quantity AS quantity, l.amount AS line_amount
ORDER BY trace_code, seq
