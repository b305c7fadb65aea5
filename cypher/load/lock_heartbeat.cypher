// Renew the load lock's heartbeat while its holder works; held = 0 when it is no longer ours.
OPTIONAL MATCH (l:LoadLock {name: $name, token: $token})
SET l.heartbeat_at = datetime()
RETURN count(l) AS held
