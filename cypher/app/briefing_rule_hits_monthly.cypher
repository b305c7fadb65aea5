// Scope: $districts (the hit's entity; null = whole city).
// Rule hits per month (month of the settlement concerned), category and severity.
MATCH (h:RuleHit)
OPTIONAL MATCH (h)-[:ON_VISIT]->(v:Visit)
WITH h, v
WHERE $districts IS NULL OR EXISTS {
  MATCH (h)-[:AGAINST]->(e)
  WHERE coalesce(e.district, [(e)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) IN $districts }
RETURN coalesce(v.month, 'unknown') AS month, coalesce(h.category, 'other') AS category,
       h.severity AS severity, count(*) AS n_hits,
       sum(coalesce(h.amount_at_risk, 0.0)) AS amount_at_risk
ORDER BY month, category, severity
