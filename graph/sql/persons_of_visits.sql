-- The person of each settlement in the frame `want` (visit_id).
SELECT v.visit_id, v.person_id FROM visits v SEMI JOIN want USING (visit_id)
