// Is there any data at all? The load lock node is bookkeeping, not data.
MATCH (n) WHERE NOT n:LoadLock RETURN 1 AS found LIMIT 1
