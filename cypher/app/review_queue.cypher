// The leads an investigator should review next (建议优先复核), in the queue's order, in the caller's
// scope ($districts: null = whole city; $referred_only: police liaison), leads closed since the run
// left out. $limit: how many.
MATCH (q:ReviewSuggestion)-[:SUGGESTS]->(l:Lead)
WHERE coalesce(l.status, 'new') <> '结案'
WITH q, l, [(l)-[:INCLUDES]->(m) WHERE m:Institution OR m:Person | m.district]
          + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(pi:Institution) | pi.district] AS districts
WHERE ($districts IS NULL OR any(d IN districts WHERE d IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
RETURN q.review_rank AS review_rank, l.lead_id AS lead_id, l.scheme AS scheme, l.score AS score,
       l.amount_at_risk AS amount_at_risk, coalesce(l.status, 'new') AS status, l.assignee AS assignee,
       q.uncertainty AS uncertainty, q.amount_weight AS amount_weight, q.novelty AS novelty,
       q.priority AS priority, q.gain AS gain, q.reason AS reason, q.run_id AS run_id
ORDER BY q.review_rank, l.lead_id
LIMIT $limit
