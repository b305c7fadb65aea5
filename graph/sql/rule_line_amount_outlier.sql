-- R-MED-013 单项费用异常: a claim line whose amount is far above the lines of the same item at the
-- same kind of institution. Robust z on log amounts within (item_code, kind) groups of at least
-- $min_group lines: 0.6745 (x - median) / MAD, the mean absolute deviation (x 1.2533) where the MAD
-- is 0, and 0 where both are (Iglewicz & Hoaglin 1993). Lines with z >= $z_min and amount >=
-- $min_amount; the amount at risk is the excess over the group's median amount.
WITH li AS (
    SELECT l.line_id, l.visit_id, l.item_code, l.amount, ln(l.amount) AS x, i.kind,
           v.person_id, v.institution_id, coalesce(l.physician_id, v.physician_id) AS physician_id
    FROM claim_lines l
    JOIN visits v USING (visit_id)
    JOIN institutions i ON i.institution_id = v.institution_id
    WHERE l.amount > 0 AND i.kind IS NOT NULL AND l.item_code IS NOT NULL
), g AS (
    SELECT item_code, kind, median(x) AS med_x, median(amount) AS med_amount
    FROM li GROUP BY item_code, kind HAVING count(*) >= $min_group
), d AS (
    SELECT li.*, g.med_x, g.med_amount, abs(li.x - g.med_x) AS dev
    FROM li JOIN g USING (item_code, kind)
), s AS (
    SELECT item_code, kind, median(dev) AS mad, avg(dev) AS meanad FROM d GROUP BY item_code, kind
), z AS (
    SELECT d.*, CASE WHEN s.mad > 0 THEN 0.6745 * (d.x - d.med_x) / s.mad
                     WHEN s.meanad > 0 THEN (d.x - d.med_x) / (1.2533 * s.meanad)
                     ELSE 0.0 END AS z
    FROM d JOIN s USING (item_code, kind)
)
SELECT z.visit_id, z.line_id, z.person_id, z.institution_id, z.physician_id,
       z.amount - z.med_amount AS amount_at_risk,
       z.item_code || ' ' || coalesce(c.name, '') || ' line ' || printf('%.2f', round(z.amount, 2))
         || ' vs median ' || printf('%.2f', round(z.med_amount, 2)) || ' at ' || z.kind || 's (z='
         || CAST(round(z.z, 1) AS VARCHAR) || ')' AS evidence
FROM z LEFT JOIN catalog c USING (item_code)
WHERE z.z >= $z_min AND z.amount >= $min_amount
