-- Billed per settlement named in the frame `want` (id): the ceiling of the hits on that settlement.
SELECT v.visit_id, v.total_amount FROM visits v JOIN want w ON v.visit_id = w.id
