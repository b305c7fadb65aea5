// Delete up to $limit face identities of an earlier run (re-clustered away).
MATCH (f:FaceIdentity)
WHERE f.run_id IS NULL OR f.run_id <> $run_id
WITH f LIMIT $limit
DETACH DELETE f
RETURN count(*) AS deleted
