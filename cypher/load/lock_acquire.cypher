// Take the load lock if nobody holds it (atomic: unique on name), and return whoever holds it now.
// The caller holds it when the returned token is its own.
MERGE (l:LoadLock {name: $name})
ON CREATE SET l.token = $token, l.owner = $owner, l.pid = $pid, l.pid_started = $pid_started,
              l.host = $host, l.purpose = $purpose, l.started_at = datetime(), l.heartbeat_at = datetime()
RETURN l.token AS token, l.owner AS owner, l.pid AS pid, l.pid_started AS pid_started, l.host AS host,
       l.purpose AS purpose, toString(l.started_at) AS started_at,
       duration.inSeconds(l.heartbeat_at, datetime()).seconds AS heartbeat_age_s
