// Rule hits per month (month of the settlement concerned), category and severity.
MATCH (h:RuleHit)
OPTIONAL MATCH (h)-[:ON_VISIT]->(v:Visit)
RETURN coalesce(v.month, 'unknown') AS month, coalesce(h.category, 'other') AS category,
       h.severity AS severity, count(*) AS n_hits,
       sum(coalesce(h.amount_at_risk, 0.0)) AS amount_at_risk
ORDER BY month, category, severity
