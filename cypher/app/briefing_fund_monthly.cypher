// Settlements and fund outlay per month, the denominator of the briefing's trends.
// Scope: $districts (the institution's; null = whole city).
MATCH (v:Visit)
WHERE $districts IS NULL OR EXISTS { (v)-[:AT]->(i:Institution) WHERE i.district IN $districts }
RETURN v.month AS month, count(*) AS n_visits,
       sum(coalesce(v.total_amount, 0.0)) AS total_amount,
       sum(coalesce(v.fund_paid, 0.0)) AS fund_paid
ORDER BY month
