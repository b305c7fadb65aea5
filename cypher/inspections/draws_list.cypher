// Draws, newest first, with how many inspections are done and what they found; counted over
// the inspections of institutions in $districts (null: the whole city) only.
MATCH (d:InspectionDraw)
OPTIONAL MATCH (d)-[:INCLUDES]->(n:Inspection)
OPTIONAL MATCH (n)-[:OF]->(i:Institution)
WITH d, n, i WHERE n IS NULL OR $districts IS NULL OR i.district IN $districts
WITH d, count(n) AS n_in_scope, count(CASE WHEN n.status = 'done' THEN 1 END) AS n_done,
     count(CASE WHEN n.outcome IS NOT NULL AND n.outcome <> 'no_issue' THEN 1 END) AS n_findings,
     sum(coalesce(n.amount, 0.0)) AS amount
RETURN d.draw_id AS draw_id, d.title AS title, toString(d.drawn_at) AS drawn_at, d.drawn_by AS drawn_by,
       d.seed AS seed, d.n AS n, n_in_scope, n_done, n_findings, amount,
       d.institutions_sha256 AS institutions_sha256, d.inspectors_sha256 AS inspectors_sha256,
       d.result_sha256 AS result_sha256
ORDER BY d.drawn_at DESC, d.draw_id
SKIP $skip LIMIT $limit
