// Take over a stale load lock, only if it is still the one judged stale ($old_token).
// The SET first takes the node's write lock, so the token read after it is the latest
// committed one: of two loaders taking over the same stale lock, one wins.
MATCH (l:LoadLock {name: $name})
SET l.claiming = true
REMOVE l.claiming
WITH l
WHERE l.token = $old_token
SET l.token = $token, l.owner = $owner, l.pid = $pid, l.pid_started = $pid_started, l.host = $host,
    l.purpose = $purpose, l.started_at = datetime(), l.heartbeat_at = datetime(),
    l.taken_over_at = datetime()
RETURN l.token AS token
