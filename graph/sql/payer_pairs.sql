-- Persons whose personal account paid for someone else's settlement (家庭共济), as pairs
-- (person a, payer b), distinct, ordered.
SELECT DISTINCT person_id AS a, payer_person_id AS b
FROM visits
WHERE payer_person_id IS NOT NULL AND person_id IS NOT NULL AND payer_person_id <> person_id
ORDER BY a, b
