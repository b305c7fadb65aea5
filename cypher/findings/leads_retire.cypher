// Leads of earlier runs that this run did not find again: kept (with their history) but
// marked inactive and unranked, so the queue shows them last.
MATCH (l:Lead)
WHERE coalesce(l.run_id, '') <> $run_id AND coalesce(l.active, true)
SET l.active = false, l.rank = null, l.retired_at = localdatetime($now)
RETURN count(l) AS retired
