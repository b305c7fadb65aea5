-- Packs dispensed (trace rows, 药品追溯码) per institution -- every institution that scans --
-- and per person and per prescriber of the frame `want` (entity_type, entity_id): the volumes
-- that reappearing packs are compared with. items_packs counts only packs of the items in the
-- frame `items` (item_code). One pass over the trace rows (GROUPING SETS). Reads the views of
-- trace_views.sql.
WITH r AS (
    SELECT v.institution_id, v.person_id, coalesce(l.physician_id, v.physician_id) AS prescriber,
           l.item_code
    FROM rs_trace t JOIN rs_line l USING (line_id) JOIN rs_visit v USING (visit_id)
), x AS (
    SELECT r.institution_id, wp.entity_id AS person_id, wd.entity_id AS physician_id,
           it.item_code IS NOT NULL AS wanted_item
    FROM r
    LEFT JOIN (SELECT entity_id FROM want WHERE entity_type = 'person') wp ON wp.entity_id = r.person_id
    LEFT JOIN (SELECT entity_id FROM want WHERE entity_type = 'physician') wd ON wd.entity_id = r.prescriber
    LEFT JOIN (SELECT DISTINCT item_code FROM items) it ON it.item_code = r.item_code
)
SELECT CASE WHEN GROUPING(institution_id) = 0 THEN 'institution'
            WHEN GROUPING(person_id) = 0 THEN 'person' ELSE 'physician' END AS entity_type,
       coalesce(institution_id, person_id, physician_id) AS entity_id,
       count(*) AS packs, count(*) FILTER (WHERE wanted_item) AS item_packs
FROM x
GROUP BY GROUPING SETS ((institution_id), (person_id), (physician_id))
HAVING coalesce(institution_id, person_id, physician_id) IS NOT NULL
ORDER BY 1, 2
