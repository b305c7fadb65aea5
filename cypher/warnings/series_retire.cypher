// Delete up to $limit indicator series of an earlier run (no warning on them any more).
MATCH (s:IndicatorSeries)
WHERE s.run_id IS NULL OR s.run_id <> $run_id
WITH s LIMIT $limit
DETACH DELETE s
RETURN count(*) AS deleted
