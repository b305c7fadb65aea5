-- R-MED-011 超专业范围开药: a physician orders an item that the other physicians of the same specialty
-- almost never order. Lines with a prescriber (the line's physician, else the visit's) whose
-- specialty is known and not a generalist one ($exempt); among them, items of $item_types. Flagged:
-- the specialty's other physicians order the item in fewer than $max_peer_rate of their lines
-- (at least $min_peer_lines lines between them), and this physician ordered it at least
-- $min_physician_lines times for at least $min_patients persons.
WITH li AS (
    SELECT l.line_id, l.visit_id, l.item_code, l.amount, c.item_type, c.name AS item_name,
           v.person_id, v.institution_id, coalesce(l.physician_id, v.physician_id) AS prescriber_id
    FROM claim_lines l JOIN visits v USING (visit_id) LEFT JOIN catalog c ON c.item_code = l.item_code
), sp AS (
    SELECT li.*, ph.specialty
    FROM li JOIN physicians ph ON ph.physician_id = li.prescriber_id
    WHERE ph.specialty IS NOT NULL AND NOT list_contains($exempt, ph.specialty)
), tot AS (
    SELECT specialty, prescriber_id, count(*) AS n_all FROM sp GROUP BY ALL
), spec_tot AS (
    SELECT specialty, sum(n_all) AS n_spec_all FROM tot GROUP BY ALL
), it AS (
    SELECT item_code, specialty, prescriber_id, count(*) AS n_doc, count(DISTINCT person_id) AS n_pat
    FROM sp WHERE list_contains($item_types, item_type) GROUP BY ALL
), it_spec AS (
    SELECT item_code, specialty, sum(n_doc) AS n_spec FROM it GROUP BY ALL
), flag AS (
    SELECT it.item_code, it.specialty, it.prescriber_id, it.n_doc, it.n_pat, s.n_spec,
           st.n_spec_all - t.n_all AS peer_lines
    FROM it JOIN it_spec s USING (item_code, specialty) JOIN tot t USING (specialty, prescriber_id)
    JOIN spec_tot st USING (specialty)
    WHERE st.n_spec_all - t.n_all >= $min_peer_lines
      AND (s.n_spec - it.n_doc) / (st.n_spec_all - t.n_all) < $max_peer_rate
      AND it.n_doc >= $min_physician_lines AND it.n_pat >= $min_patients
)
SELECT sp.visit_id, sp.line_id, sp.prescriber_id AS entity_id, sp.prescriber_id AS physician_id,
       sp.person_id, sp.institution_id, sp.amount AS amount_at_risk, sp.item_code, sp.specialty,
       sp.item_code || ' ' || coalesce(sp.item_name, '') || ' ordered ' || f.n_doc || ' times for ' || f.n_pat
         || ' patients by this ' || f.specialty || ' physician; the specialty''s other physicians: '
         || (f.n_spec - f.n_doc) || ' in ' || f.peer_lines || ' lines' AS evidence
FROM sp JOIN flag f USING (item_code, specialty, prescriber_id)
WHERE list_contains($item_types, sp.item_type)
