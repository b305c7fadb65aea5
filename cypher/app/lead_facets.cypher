// Values the lead filters offer: one row per (scheme, status) with counts.
MATCH (l:Lead)
RETURN l.scheme AS scheme, coalesce(l.status, 'new') AS status,
       count(*) AS n_leads, sum(coalesce(l.amount_at_risk, 0.0)) AS amount_at_risk
ORDER BY scheme, status
