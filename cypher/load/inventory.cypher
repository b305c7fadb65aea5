UNWIND $rows AS r
MATCH (i:Institution {institution_id: r.institution_id})
MATCH (t:Item {item_code: r.item_code})
MERGE (i)-[s:STOCKED {period: r.period}]->(t)
SET s.qty_purchased = r.qty_purchased, s.qty_opening = r.qty_opening, s.qty_closing = r.qty_closing
