// Delete up to $limit rule hits written by an earlier run (their rule no longer fires).
// Call repeatedly until it returns 0.
MATCH (h:RuleHit)
WHERE h.run_id IS NULL OR h.run_id <> $run_id
WITH h LIMIT $limit
DETACH DELETE h
RETURN count(*) AS deleted
