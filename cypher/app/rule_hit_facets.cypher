// The rules that fired, with counts and money at risk (the Rule hits filters).
MATCH (h:RuleHit)
RETURN h.rule_id AS rule_id, head(collect(DISTINCT h.rule_name)) AS rule_name,
       head(collect(DISTINCT h.category)) AS category,
       count(*) AS n_hits,
       sum(CASE WHEN h.severity = 'high' THEN 1 ELSE 0 END) AS n_high,
       sum(coalesce(h.amount_at_risk, 0.0)) AS amount_at_risk
ORDER BY n_hits DESC, rule_id
