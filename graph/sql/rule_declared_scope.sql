-- R-MED-016 超限定科室/执业范围开药: a line ordered outside the city's declared prescribing scope
-- (table prescribing_scope). Two kinds of declaration, matched on item-code prefixes (an NHSA drug
-- code begins with its ATC class, so "XA10" is every drug used in diabetes; a whole code is its own
-- prefix):
--   catalogue  the item may be ordered only by the listed specialties (限定科室使用): a line whose
--              item matches a catalogue prefix, ordered by a physician whose specialty is not listed
--              for any prefix the item matches;
--   practice   the specialty may order only the listed items (执业范围): a line of $item_types ordered
--              by a physician of a specialty with practice rows, whose item matches none of them.
-- The prescriber is the line's physician, else the visit's; a prescriber without a specialty is not
-- judged. Prefix matching is done on the catalogue (small), never line by line.
WITH sc AS (
    SELECT DISTINCT trim(specialty) AS specialty, trim(item_prefix) AS item_prefix,
           coalesce(basis, 'catalogue') AS basis
    FROM prescribing_scope WHERE trim(item_prefix) <> '' AND trim(specialty) <> ''
), cat_item AS (             -- catalogue-restricted items and the specialties allowed each
    SELECT c.item_code, s.specialty, s.item_prefix
    FROM catalog c JOIN sc s ON s.basis = 'catalogue'
     AND substr(c.item_code, 1, length(s.item_prefix)) = s.item_prefix
), cat_rule AS (
    SELECT item_code, list(DISTINCT specialty ORDER BY specialty) AS allowed,
           min(item_prefix) AS item_prefix
    FROM cat_item GROUP BY item_code
), prac_spec AS (
    SELECT DISTINCT specialty FROM sc WHERE basis = 'practice'
), prac_item AS (            -- items inside a specialty's declared practice scope
    SELECT DISTINCT c.item_code, s.specialty
    FROM catalog c JOIN sc s ON s.basis = 'practice'
     AND substr(c.item_code, 1, length(s.item_prefix)) = s.item_prefix
), li AS (
    SELECT l.line_id, l.visit_id, l.item_code, l.amount, c.item_type, c.name AS item_name,
           v.person_id, v.institution_id, coalesce(l.physician_id, v.physician_id) AS prescriber_id
    FROM claim_lines l JOIN visits v USING (visit_id) LEFT JOIN catalog c ON c.item_code = l.item_code
), sp AS (
    SELECT li.*, trim(ph.specialty) AS specialty
    FROM li JOIN physicians ph ON ph.physician_id = li.prescriber_id
    WHERE ph.specialty IS NOT NULL AND trim(ph.specialty) <> ''
), by_catalogue AS (      -- (explicit columns: the branches of a UNION ALL meet by position)
    SELECT sp.visit_id, sp.line_id, sp.prescriber_id, sp.person_id, sp.institution_id, sp.amount, sp.item_code,
           sp.item_name, sp.specialty, 'catalogue' AS basis, r.item_prefix,
           array_to_string(r.allowed, '、') AS allowed_text
    FROM sp JOIN cat_rule r ON r.item_code = sp.item_code
    WHERE NOT list_contains(r.allowed, sp.specialty)
), by_practice AS (
    SELECT sp.visit_id, sp.line_id, sp.prescriber_id, sp.person_id, sp.institution_id, sp.amount, sp.item_code,
           sp.item_name, sp.specialty, 'practice' AS basis, CAST(NULL AS VARCHAR) AS item_prefix,
           CAST(NULL AS VARCHAR) AS allowed_text
    FROM sp JOIN prac_spec ps ON ps.specialty = sp.specialty
    LEFT JOIN prac_item pi ON pi.item_code = sp.item_code AND pi.specialty = sp.specialty
    WHERE pi.item_code IS NULL AND list_contains($item_types, sp.item_type)
), hits AS (
    SELECT * FROM by_catalogue
    UNION ALL
    SELECT * FROM by_practice
)
SELECT visit_id, line_id, prescriber_id AS entity_id, prescriber_id AS physician_id, person_id, institution_id,
       amount AS amount_at_risk, basis,
       CASE WHEN basis = 'catalogue'
            THEN item_code || ' ' || coalesce(item_name, '') || ': 目录限定 ' || allowed_text || ' 使用 (declared '
                 || item_prefix || ' for ' || allowed_text || '), ordered by a ' || specialty || ' physician'
            ELSE item_code || ' ' || coalesce(item_name, '') || ': 不在 ' || specialty
                 || ' 申报执业范围内 (outside the declared practice scope of ' || specialty || ')'
       END AS evidence
FROM hits
