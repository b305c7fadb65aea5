// Suggestions of earlier runs (the queue is recomputed by every run): removed in batches.
MATCH (q:ReviewSuggestion)
WHERE q.run_id <> $run_id
WITH q LIMIT $limit
DETACH DELETE q
RETURN count(*) AS n
