-- What was billed on each lead's settlements, the ceiling of its amount at risk: the
-- settlements of its member persons; for a lead without persons, those at its member
-- institutions or with its member physicians. Each settlement once per lead.
-- Frames: `members` (lead_id, entity_type, entity_id), `personless` (lead_id).
WITH pv AS (
    SELECT m.lead_id, v.visit_id, v.total_amount
    FROM visits v JOIN members m ON m.entity_type = 'person' AND v.person_id = m.entity_id
), iv AS (
    SELECT m.lead_id, v.visit_id, v.total_amount
    FROM visits v JOIN members m ON m.entity_type = 'institution' AND v.institution_id = m.entity_id
    WHERE m.lead_id IN (SELECT lead_id FROM personless)
), dv AS (
    SELECT m.lead_id, v.visit_id, v.total_amount
    FROM visits v JOIN members m ON m.entity_type = 'physician' AND v.physician_id = m.entity_id
    WHERE m.lead_id IN (SELECT lead_id FROM personless)
)
SELECT lead_id, SUM(total_amount) AS billed
FROM (SELECT DISTINCT lead_id, visit_id, total_amount FROM (SELECT * FROM pv UNION ALL SELECT * FROM iv UNION ALL SELECT * FROM dv))
GROUP BY lead_id
