// Expand one node of the Ring explorer: its direct neighbours in the graph
// (settlement partners through visits, family, practice, faces), strongest
// first. $entity_type: person | physician | institution; $entity_id; $limit.
// referred_member: x belongs to a lead referred to the police (the liaison's scope).
CALL () {
  MATCH (n:Person {person_id: $entity_id}) WHERE $entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
CALL (n) {
  MATCH (n)<-[:FOR_PERSON|BY|AT]-(v:Visit)-[:FOR_PERSON|BY|AT]->(x)
  WHERE x <> n
  RETURN x, 'visit' AS rel, count(DISTINCT v) AS k, sum(coalesce(v.total_amount, 0.0)) AS amount
  UNION ALL
  MATCH (n)-[:FAMILY]-(x:Person)
  RETURN x, 'family' AS rel, 1 AS k, 0.0 AS amount
  UNION ALL
  MATCH (n)-[:PRACTISES_AT]-(x)
  RETURN x, 'practises_at' AS rel, 1 AS k, 0.0 AS amount
}
WITH x, rel, sum(k) AS n, sum(amount) AS amount
RETURN CASE WHEN x:Person THEN 'person' WHEN x:Physician THEN 'physician' ELSE 'institution' END AS entity_type,
       coalesce(x.person_id, x.physician_id, x.institution_id) AS entity_id,
       x.name AS name, coalesce(x.district, [(x)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) AS district,
       x.risk_score AS risk_score, rel, n, amount,
       EXISTS { (x)<-[:INCLUDES]-(rl:Lead) WHERE coalesce(rl.status, 'new') = '移送公安' OR coalesce(rl.referred, false) } AS referred_member
ORDER BY n DESC, amount DESC, entity_id
LIMIT $limit
