// Settlements and fund outlay per month, the denominator of the briefing's trends.
MATCH (v:Visit)
RETURN v.month AS month, count(*) AS n_visits,
       sum(coalesce(v.total_amount, 0.0)) AS total_amount,
       sum(coalesce(v.fund_paid, 0.0)) AS fund_paid
ORDER BY month
