-- The billed amount (total_amount) of the settlements named in the frame `want` (visit_id),
-- e.g. the visits behind one lending face's captures: only these rows leave the engine.
SELECT v.visit_id, v.total_amount
FROM visits v
JOIN (SELECT DISTINCT visit_id FROM want) w ON w.visit_id = v.visit_id
