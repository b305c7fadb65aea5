// Inspections with their institution, team and result: of one draw ($draw_id) or all, of
// institutions in $districts (null: the whole city), in draw order. $status: null or one.
MATCH (d:InspectionDraw)-[:INCLUDES]->(n:Inspection)-[:OF]->(i:Institution)
WHERE ($draw_id IS NULL OR d.draw_id = $draw_id) AND ($districts IS NULL OR i.district IN $districts)
  AND ($status IS NULL OR n.status = $status)
CALL (n) {
  OPTIONAL MATCH (x:Inspector)-[a:ASSIGNED]->(n)
  WITH x, a ORDER BY a.lead DESC, x.inspector_id
  RETURN collect(x.inspector_id) AS inspector_ids, collect(x.name) AS inspector_names
}
RETURN n.inspection_id AS inspection_id, d.draw_id AS draw_id, n.seq AS seq, i.institution_id AS institution_id,
       i.name AS institution_name, i.kind AS kind, i.district AS district, n.stratum AS stratum,
       n.method AS draw_method, n.risk AS risk, inspector_ids, inspector_names, n.status AS inspection_status,
       toString(n.inspected_on) AS inspected_on, n.finding AS finding, n.amount AS amount, n.outcome AS inspection_outcome,
       n.recorded_by AS recorded_by
ORDER BY d.drawn_at DESC, d.draw_id, n.seq
SKIP $skip LIMIT $limit
