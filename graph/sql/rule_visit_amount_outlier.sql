-- R-MED-014 单次结算费用异常: a settlement whose total is far above settlements of the same type at
-- institutions of the same kind and level (groups of at least $min_group). Robust z on log totals
-- as in R-MED-013; settlements with z >= $z_min and total >= $min_amount; the amount at risk is the
-- excess over the group's median total.
WITH v AS (
    SELECT v.visit_id, v.person_id, v.institution_id, v.physician_id, v.visit_type, v.total_amount,
           ln(v.total_amount) AS x, i.kind, coalesce(CAST(i.level AS VARCHAR), '<NA>') AS lvl
    FROM visits v JOIN institutions i USING (institution_id)
    WHERE v.total_amount > 0 AND i.kind IS NOT NULL AND v.visit_type IS NOT NULL
), g AS (
    SELECT visit_type, kind, lvl, median(x) AS med_x, median(total_amount) AS med_amount
    FROM v GROUP BY visit_type, kind, lvl HAVING count(*) >= $min_group
), d AS (
    SELECT v.*, g.med_x, g.med_amount, abs(v.x - g.med_x) AS dev
    FROM v JOIN g USING (visit_type, kind, lvl)
), s AS (
    SELECT visit_type, kind, lvl, median(dev) AS mad, avg(dev) AS meanad FROM d GROUP BY visit_type, kind, lvl
), z AS (
    SELECT d.*, CASE WHEN s.mad > 0 THEN 0.6745 * (d.x - d.med_x) / s.mad
                     WHEN s.meanad > 0 THEN (d.x - d.med_x) / (1.2533 * s.meanad)
                     ELSE 0.0 END AS z
    FROM d JOIN s USING (visit_type, kind, lvl)
)
SELECT visit_id, person_id, institution_id, physician_id, total_amount - med_amount AS amount_at_risk,
       visit_type || ' settlement ' || printf('%.2f', round(total_amount, 2)) || ' vs median '
         || printf('%.2f', round(med_amount, 2)) || ' at ' || kind || 's (z=' || CAST(round(z, 1) AS VARCHAR) || ')'
         AS evidence
FROM z
WHERE z >= $z_min AND total_amount >= $min_amount
