// The inspections of a draw: one Inspection per drawn institution (OF it), INCLUDED in the draw,
// each inspector of its team ASSIGNED to it (the first named leads, 主办). MERGE on the id: a
// draw written again duplicates nothing. $rows: {inspection_id, seq, institution_id, stratum,
// method, risk, inspectors: [ids]}; $draw_id, $now.
MATCH (d:InspectionDraw {draw_id: $draw_id})
UNWIND $rows AS row
MERGE (n:Inspection {inspection_id: row.inspection_id})
ON CREATE SET n.draw_id = $draw_id, n.seq = row.seq, n.institution_id = row.institution_id,
              n.stratum = row.stratum, n.method = row.method, n.risk = row.risk,
              n.inspectors = row.inspectors, n.status = 'planned', n.created_at = localdatetime($now)
MERGE (d)-[:INCLUDES]->(n)
WITH n, row
CALL (n, row) {
  MATCH (i:Institution {institution_id: row.institution_id})
  MERGE (n)-[:OF]->(i)
}
WITH n, row
CALL (n, row) {
  UNWIND range(0, size(row.inspectors) - 1) AS k
  MATCH (x:Inspector {inspector_id: row.inspectors[k]})
  MERGE (x)-[a:ASSIGNED]->(n)
  SET a.lead = (k = 0)
}
RETURN count(n) AS written
