// Notebook 01: the ranked leads to pick a ring from (active leads first, then by score).
// $lead_id: one lead, or null for all; $limit: how many leads.
// Scope: $districts (the caller's; null = whole city), $referred_only (police
// liaison): only the leads the caller may read (as cypher/app/lead_queue.cypher).
MATCH (l:Lead)
WHERE ($lead_id IS NULL OR l.lead_id = $lead_id)
WITH l
WHERE ($districts IS NULL
       OR any(sd IN [(l)-[:INCLUDES]->(sm) WHERE sm:Person OR sm:Institution | sm.district]
                   + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(si:Institution) | si.district]
              WHERE sd IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
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
