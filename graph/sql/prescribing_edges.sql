-- The prescribing graph, aggregated and typed: physician -- patient (prescribed), and for
-- external prescriptions patient -- dispenser and physician -- dispenser; amount and number of
-- lines per edge, ordered by (u, v).
WITH dl AS ({{prescribing_lines}})
SELECT u, v, sum(amount) AS amount, count(*) AS n FROM (
    SELECT 'physician:' || prescriber AS u, 'person:' || person_id AS v, amount FROM dl
    UNION ALL
    SELECT 'person:' || person_id, 'institution:' || institution_id, amount FROM dl WHERE ext
    UNION ALL
    SELECT 'physician:' || prescriber, 'institution:' || institution_id, amount FROM dl WHERE ext
) e
GROUP BY u, v
ORDER BY u, v
