// The rules that fired, with counts and money at risk (the Rule hits filters).
// Scope: $districts (the entity's; null = whole city).
MATCH (h:RuleHit)
WHERE $districts IS NULL OR EXISTS {
  MATCH (h)-[:AGAINST]->(e)
  WHERE coalesce(e.district, [(e)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) IN $districts }
RETURN h.rule_id AS rule_id, head(collect(DISTINCT h.rule_name)) AS rule_name,
       head(collect(DISTINCT h.category)) AS category,
       count(*) AS n_hits,
       sum(CASE WHEN h.severity = 'high' THEN 1 ELSE 0 END) AS n_high,
       sum(coalesce(h.amount_at_risk, 0.0)) AS amount_at_risk
ORDER BY n_hits DESC, rule_id
