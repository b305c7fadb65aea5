// Notebook 01: the ranked leads to pick a ring from (active leads first, then by score).
// $lead_id: one lead, or null for all; $limit: how many leads.
MATCH (l:Lead)
WHERE $lead_id IS NULL OR l.lead_id = $lead_id
RETURN l.lead_id AS lead_id,
       l.rank AS rank,
       l.scheme AS scheme,
       l.score AS score,
       l.amount_at_risk AS amount_at_risk,
       coalesce(l.status, 'new') AS status,
       COUNT { (l)-[:INCLUDES]->(:Person) } AS n_persons,
       COUNT { (l)-[:INCLUDES]->(:Physician) } AS n_physicians,
       COUNT { (l)-[:INCLUDES]->(:Institution) } AS n_institutions,
       l.summary AS summary
ORDER BY coalesce(l.active, true) DESC, coalesce(l.score, 0.0) DESC, coalesce(l.rank, 2147483647), l.lead_id
LIMIT $limit
