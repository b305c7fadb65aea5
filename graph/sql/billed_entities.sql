-- Billed per entity named in the frame `want` (entity_type, entity_id): the total of its settlements
-- (a physician's as the settlement's physician), the ceiling of entity-level rule hits.
SELECT 'institution' AS entity_type, v.institution_id AS entity_id, SUM(v.total_amount) AS billed
FROM visits v JOIN want w ON w.entity_type = 'institution' AND v.institution_id = w.entity_id GROUP BY v.institution_id
UNION ALL
SELECT 'physician', v.physician_id, SUM(v.total_amount)
FROM visits v JOIN want w ON w.entity_type = 'physician' AND v.physician_id = w.entity_id GROUP BY v.physician_id
UNION ALL
SELECT 'person', v.person_id, SUM(v.total_amount)
FROM visits v JOIN want w ON w.entity_type = 'person' AND v.person_id = w.entity_id GROUP BY v.person_id
