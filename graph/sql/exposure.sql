-- Settlements per entity (the exposure a rule-hit count is weighed against): persons,
-- physicians and institutions, from every visit.
SELECT 'person' AS entity_type, person_id AS entity_id, count(*) AS n_visits FROM visits
WHERE person_id IS NOT NULL GROUP BY person_id
UNION ALL
SELECT 'physician', physician_id, count(*) FROM visits WHERE physician_id IS NOT NULL GROUP BY physician_id
UNION ALL
SELECT 'institution', institution_id, count(*) FROM visits WHERE institution_id IS NOT NULL GROUP BY institution_id
