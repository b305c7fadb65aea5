-- The settlements of the persons in the frame `want` (person_id), in table order.
SELECT v.visit_id, v.person_id, v.institution_id, v.physician_id, v.start_time, v.total_amount
FROM (SELECT *, row_number() OVER () AS _r FROM visits) v SEMI JOIN want USING (person_id)
ORDER BY v._r
