// Warnings of earlier runs that this run did not raise again: kept (with their handling) but
// marked inactive. Returns how many.
MATCH (w:Warning)
WHERE coalesce(w.run_id, '') <> $run_id AND coalesce(w.active, true)
SET w.active = false, w.retired_at = localdatetime($now)
RETURN count(w) AS retired
