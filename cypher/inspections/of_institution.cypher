// Every random inspection of one institution, newest draw first, with the team and the result
// (shown on the institution's page). $institution_id.
MATCH (d:InspectionDraw)-[:INCLUDES]->(n:Inspection)-[:OF]->(:Institution {institution_id: $institution_id})
CALL (n) {
  OPTIONAL MATCH (x:Inspector)-[a:ASSIGNED]->(n)
  WITH x, a ORDER BY a.lead DESC, x.inspector_id
  RETURN collect(x.name) AS inspector_names
}
RETURN n.inspection_id AS inspection_id, d.draw_id AS draw_id, toString(d.drawn_at) AS drawn_at,
       inspector_names, n.status AS inspection_status, toString(n.inspected_on) AS inspected_on,
       n.finding AS finding, n.amount AS amount, n.outcome AS inspection_outcome
ORDER BY d.drawn_at DESC, n.inspection_id
