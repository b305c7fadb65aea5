// The inspectors list (执法检查人员名录): one Inspector per row, BOUND_TO each institution they must
// not inspect (found in the graph; the whole list, found or not, is kept in x.bound). A row written
// again replaces the inspector's name, unit and bindings. $rows: {inspector_id, name, unit,
// bound: [institution ids]}; $now (ISO local time), $user.
UNWIND $rows AS row
MERGE (x:Inspector {inspector_id: row.inspector_id})
ON CREATE SET x.created_at = localdatetime($now)
SET x.name = row.name, x.unit = row.unit, x.bound = row.bound, x.active = true,
    x.updated_at = localdatetime($now), x.updated_by = $user
WITH x, row
CALL (x) {
  MATCH (x)-[b:BOUND_TO]->()
  DELETE b
}
WITH x, row
CALL (x, row) {
  UNWIND row.bound AS iid
  MATCH (i:Institution {institution_id: iid})
  MERGE (x)-[:BOUND_TO]->(i)
}
RETURN count(x) AS written
