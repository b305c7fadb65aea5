// Who an entity dealt with through settlements: for a person the institutions
// and physicians, for a physician the patients and institutions, for an
// institution the patients and physicians; strongest ties first.
// referred_member: x belongs to a lead referred to the police (移送公安), for
// the police liaison's scope (the data layer blanks the others' personal data).
CALL () {
  MATCH (n:Person {person_id: $entity_id}) WHERE $entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
MATCH (n)<-[:FOR_PERSON|BY|AT]-(v:Visit)-[:FOR_PERSON|BY|AT]->(x)
WHERE x <> n
WITH x, count(DISTINCT v) AS n_visits, sum(coalesce(v.total_amount, 0.0)) AS amount,
     min(v.month) AS first_month, max(v.month) AS last_month
RETURN CASE WHEN x:Person THEN 'person' WHEN x:Physician THEN 'physician' ELSE 'institution' END AS entity_type,
       coalesce(x.person_id, x.physician_id, x.institution_id) AS entity_id,
       x.name AS name, coalesce(x.district, [(x)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) AS district,
       x.risk_score AS risk_score, n_visits, amount, first_month, last_month,
       EXISTS { (x)<-[:INCLUDES]-(rl:Lead) WHERE coalesce(rl.status, 'new') = '移送公安' OR coalesce(rl.referred, false) } AS referred_member
ORDER BY n_visits DESC, amount DESC, entity_id
LIMIT $limit
