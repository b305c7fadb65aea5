// Re-load of claim lines: drop what a line row defines (its visit, item and ordering physician).
UNWIND $rows AS r
MATCH (l:ClaimLine {line_id: r.line_id})
CALL (l) {
  MATCH (l)-[x:OF_ITEM|ORDERED_BY]->()
  DELETE x
}
CALL (l) {
  MATCH (:Visit)-[h:HAS_LINE]->(l)
  DELETE h
}
