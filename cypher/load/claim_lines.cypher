UNWIND $rows AS r
MATCH (v:Visit {visit_id: r.visit_id})
MATCH (t:Item {item_code: r.item_code})
MERGE (l:ClaimLine {line_id: r.line_id})
SET l.quantity = r.quantity, l.unit_price = r.unit_price, l.amount = r.amount,
    l.days_supply = r.days_supply, l.item_code = r.item_code,
    l.service_time = CASE WHEN r.service_time IS NULL THEN null ELSE localdatetime(r.service_time) END
MERGE (v)-[:HAS_LINE]->(l)
MERGE (l)-[:OF_ITEM]->(t)
WITH l, r
CALL (l, r) {
  MATCH (d:Physician {physician_id: r.physician_id})
  MERGE (l)-[:ORDERED_BY]->(d)
}
