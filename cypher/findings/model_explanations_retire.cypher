// Delete up to $limit model explanations of an earlier run (the entity was not explained again).
MATCH (x:ModelExplanation)
WHERE x.run_id IS NULL OR x.run_id <> $run_id
WITH x LIMIT $limit
DETACH DELETE x
RETURN count(*) AS deleted
