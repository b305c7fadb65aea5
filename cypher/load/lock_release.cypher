// Give the load lock back, only if it is still ours.
OPTIONAL MATCH (l:LoadLock {name: $name, token: $token})
DELETE l
RETURN count(l) AS released
