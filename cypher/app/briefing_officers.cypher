// Workload per officer for the leader's view: open leads by assignee, overdue
// among them ($today 'YYYY-MM-DD'), and leads closed with each outcome.
// Scope: $districts (null = whole city), $referred_only.
MATCH (l:Lead)
WITH l, [(l)-[:INCLUDES]->(m) WHERE m:Institution OR m:Person | m.district]
        + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(pi:Institution) | pi.district] AS districts
WHERE ($districts IS NULL OR any(d IN districts WHERE d IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
WITH l, coalesce(l.assignee, '') AS officer, coalesce(l.status, 'new') AS status
RETURN officer,
       sum(CASE WHEN status <> '结案' THEN 1 ELSE 0 END) AS open,
       sum(CASE WHEN status <> '结案' AND l.deadline IS NOT NULL AND l.deadline < date($today) THEN 1 ELSE 0 END)
         AS overdue,
       sum(CASE WHEN status = '结案' THEN 1 ELSE 0 END) AS closed,
       sum(CASE WHEN l.outcome = 'confirmed' THEN 1 ELSE 0 END) AS confirmed,
       sum(coalesce(l.recovered, 0.0)) AS recovered
ORDER BY open DESC, officer
