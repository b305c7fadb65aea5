-- R-MED-013 单项费用异常: a claim line whose amount is far above the lines of the same item at the
-- same kind of institution. Robust z on log amounts within (item_code, kind) groups of at least
-- $min_group lines: 0.6745 (x - median) / MAD, the mean absolute deviation (x 1.2533) where the MAD
-- is 0, and 0 where both are (Iglewicz & Hoaglin 1993). Lines with z >= $z_min and amount >=
-- $min_amount; the amount at risk is the excess over the group's median amount.
-- The group statistics read only (item, kind, amount): the medians hold every value of a group
-- in memory, so the lines' ids are joined back only for the lines that pass, in one last scan
-- (a city's 25M lines with their ids would not fit the engine's memory).
WITH xs AS NOT MATERIALIZED (
    SELECT l.item_code, i.kind, l.amount, ln(l.amount) AS x
    FROM claim_lines l
    JOIN visits v USING (visit_id)
    JOIN institutions i ON i.institution_id = v.institution_id
    WHERE l.amount > 0 AND i.kind IS NOT NULL AND l.item_code IS NOT NULL
), g AS (
    SELECT item_code, kind, median(x) AS med_x, median(amount) AS med_amount
    FROM xs GROUP BY item_code, kind HAVING count(*) >= $min_group
), s AS (
    SELECT xs.item_code, xs.kind, median(abs(xs.x - g.med_x)) AS mad, avg(abs(xs.x - g.med_x)) AS meanad
    FROM xs JOIN g USING (item_code, kind) GROUP BY xs.item_code, xs.kind
), gs AS (
    SELECT g.item_code, g.kind, g.med_x, g.med_amount, s.mad, s.meanad FROM g JOIN s USING (item_code, kind)
), z AS (
    SELECT l.line_id, l.visit_id, l.item_code, l.amount, i.kind, v.person_id, v.institution_id,
           coalesce(l.physician_id, v.physician_id) AS physician_id, gs.med_amount,
           CASE WHEN gs.mad > 0 THEN 0.6745 * (ln(l.amount) - gs.med_x) / gs.mad
                WHEN gs.meanad > 0 THEN (ln(l.amount) - gs.med_x) / (1.2533 * gs.meanad)
                ELSE 0.0 END AS z
    FROM claim_lines l
    JOIN visits v USING (visit_id)
    JOIN institutions i ON i.institution_id = v.institution_id
    JOIN gs ON gs.item_code = l.item_code AND gs.kind = i.kind
    WHERE l.amount > 0 AND l.amount >= $min_amount
)
SELECT z.visit_id, z.line_id, z.person_id, z.institution_id, z.physician_id,
       z.amount - z.med_amount AS amount_at_risk,
       z.item_code || ' ' || coalesce(c.name, '') || ' line ' || printf('%.2f', round(z.amount, 2))
         || ' vs median ' || printf('%.2f', round(z.med_amount, 2)) || ' at ' || z.kind || 's (z='
         || CAST(round(z.z, 1) AS VARCHAR) || ')' AS evidence
FROM z LEFT JOIN catalog c USING (item_code)
WHERE z.z >= $z_min
