// An entity's settlements per month, with the rule hits on them.
CALL () {
  MATCH (n:Person {person_id: $entity_id}) WHERE $entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
MATCH (n)<-[:FOR_PERSON|BY|AT]-(v:Visit)
WITH v.month AS month, v
RETURN month, count(v) AS n_visits, sum(coalesce(v.total_amount, 0.0)) AS amount,
       sum(coalesce(v.fund_paid, 0.0)) AS fund_paid,
       sum(COUNT { (v)<-[:ON_VISIT]-(:RuleHit) }) AS n_rule_hits
ORDER BY month
