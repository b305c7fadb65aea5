// Ranked lead queue with filters (Leads page, Ring explorer and Evidence pickers).
// $schemes, $statuses: lists (empty = any); $min_score, $min_amount: floats;
// $assignee, $district: string or null; $skip, $limit: paging.
// Scope: $districts (the caller's; null = whole city), $referred_only (police liaison).
// A lead with no status yet is 'new' (not yet picked up for 初审). Leads an
// earlier detection run found but the latest did not (active = false) come last.
MATCH (l:Lead)
WHERE (size($schemes) = 0 OR l.scheme IN $schemes)
  AND (size($statuses) = 0 OR coalesce(l.status, 'new') IN $statuses)
  AND coalesce(l.score, 0.0) >= $min_score
  AND coalesce(l.amount_at_risk, 0.0) >= $min_amount
  AND ($assignee IS NULL OR l.assignee = $assignee)
WITH l, [(l)-[:INCLUDES]->(m) WHERE m:Institution OR m:Person | m.district]
        + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(pi:Institution) | pi.district] AS districts
WHERE ($districts IS NULL OR any(d IN districts WHERE d IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
  AND ($district IS NULL OR $district IN districts)
RETURN l.lead_id AS lead_id,
       l.rank AS rank,
       l.scheme AS scheme,
       l.score AS score,
       l.amount_at_risk AS amount_at_risk,
       coalesce(l.status, 'new') AS status,
       l.assignee AS assignee,
       toString(l.deadline) AS deadline,
       l.summary AS summary,
       coalesce(l.recovered, 0.0) AS recovered,
       toString(l.updated_at) AS updated_at,
       coalesce(l.active, true) AS active,
       COUNT { (l)-[:INCLUDES]->(:Person) } AS n_persons,
       COUNT { (l)-[:INCLUDES]->(:Physician) } AS n_physicians,
       COUNT { (l)-[:INCLUDES]->(:Institution) } AS n_institutions
ORDER BY coalesce(l.active, true) DESC, coalesce(l.rank, 2147483647), l.score DESC, l.lead_id
SKIP $skip LIMIT $limit
