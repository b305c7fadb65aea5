-- The prescribing rows of the persons in the frame `want` (person_id), in claim-line order.
WITH dl AS ({{prescribing_lines}})
SELECT lrow, visit_id, grp, amount, quantity, person_id, institution_id, start_time, diagnosis_codes, prescriber
FROM dl SEMI JOIN want USING (person_id)
ORDER BY lrow
