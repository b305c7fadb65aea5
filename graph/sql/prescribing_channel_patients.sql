-- The patients of each physician -> dispenser channel of external prescriptions (one fill per
-- visit, as prescribing_fills.sql), for channels with at least $min_patients patients.
WITH dl AS ({{prescribing_lines}}),
f AS (
    SELECT visit_id, arg_min(prescriber, lrow) AS prescriber, arg_min(institution_id, lrow) AS institution_id,
           arg_min(person_id, lrow) AS person_id
    FROM dl WHERE ext GROUP BY visit_id
)
SELECT prescriber, institution_id, list(DISTINCT person_id ORDER BY person_id) AS patients
FROM f GROUP BY prescriber, institution_id
HAVING count(DISTINCT person_id) >= $min_patients
