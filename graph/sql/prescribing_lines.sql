-- The prescribing graph's rows: drug claim lines (items of the frame `items`: item_code, grp)
-- with a prescriber (the line's physician, else the visit's), in claim-line order (lrow), with
-- the person, the dispensing institution, the visit's physician's institution (phys_institution)
-- and whether the fill is an external prescription (dispensed away from that institution).
-- Included as a sub-query by the other prescribing_*.sql files.
SELECT l.lrow, l.line_id, l.visit_id, l.item_code, it.grp, l.amount, l.quantity,
       v.person_id, v.institution_id, v.start_time, v.diagnosis_codes,
       coalesce(l.physician_id, v.physician_id) AS prescriber, ph.institution_id AS phys_institution,
       ph.institution_id IS NOT NULL AND v.institution_id <> ph.institution_id AS ext
FROM (SELECT *, row_number() OVER () AS lrow FROM claim_lines) l
JOIN items it USING (item_code)
JOIN visits v USING (visit_id)
LEFT JOIN physicians ph ON ph.physician_id = v.physician_id
WHERE coalesce(l.physician_id, v.physician_id) IS NOT NULL
