-- External prescriptions filled, one per visit (its first drug line), counted per
-- (prescriber, the visit physician's institution, dispenser).
WITH dl AS ({{prescribing_lines}}),
f AS (
    SELECT visit_id, arg_min(prescriber, lrow) AS prescriber, arg_min(phys_institution, lrow) AS phys_institution,
           arg_min(institution_id, lrow) AS institution_id, arg_min(person_id, lrow) AS person_id
    FROM dl WHERE ext GROUP BY visit_id
)
SELECT prescriber, phys_institution, institution_id, count(*) AS n FROM f GROUP BY ALL ORDER BY ALL
