-- R-MED-013 单项费用异常: a claim line whose amount is far above the lines of the same item at the
-- same kind of institution. Robust z on log amounts within (item_code, kind) groups of at least
-- $min_group lines: 0.6745 (x - median) / MAD, the mean absolute deviation (x 1.2533) where the MAD
-- is 0, and 0 where both are (Iglewicz & Hoaglin 1993). Lines with z >= $z_min and amount >=
-- $min_amount; the amount at risk is the excess over the group's median amount.
-- Exact medians from a frequency table: a line's amount is a catalogue price times a quantity, so a
-- city's 25M lines hold about 100k distinct (item, kind, amount) triples. The medians are read off
-- the running counts (the k-th value is the one whose running count first reaches k; the median is
-- the mean of the ((N+1) div 2)-th and (N div 2 + 1)-th), the same values as median() over the lines
-- themselves, without holding them. The flagged (item, kind, amount) triples are found in that table
-- too, and only the lines carrying one of them are joined back to their visits.
WITH f AS MATERIALIZED (
    SELECT l.item_code, i.kind, l.amount, count(*) AS n
    FROM claim_lines l
    JOIN visits v USING (visit_id)
    JOIN institutions i ON i.institution_id = v.institution_id
    WHERE l.amount > 0 AND i.kind IS NOT NULL AND l.item_code IS NOT NULL
    GROUP BY l.item_code, i.kind, l.amount
), r AS (
    SELECT item_code, kind, amount, ln(amount) AS x, n,
           sum(n) OVER (PARTITION BY item_code, kind ORDER BY amount
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum,
           sum(n) OVER (PARTITION BY item_code, kind) AS total
    FROM f
), k AS (
    SELECT *, floor((total + 1) / 2) AS k1, floor(total / 2) + 1 AS k2 FROM r
), g AS (
    SELECT item_code, kind, max(total) AS total,
           (max(CASE WHEN cum - n < k1 AND k1 <= cum THEN x END)
            + max(CASE WHEN cum - n < k2 AND k2 <= cum THEN x END)) / 2 AS med_x,
           (max(CASE WHEN cum - n < k1 AND k1 <= cum THEN amount END)
            + max(CASE WHEN cum - n < k2 AND k2 <= cum THEN amount END)) / 2 AS med_amount
    FROM k GROUP BY item_code, kind HAVING max(total) >= $min_group
), d AS (
    SELECT k.item_code, k.kind, k.n, k.k1, k.k2, abs(k.x - g.med_x) AS dev
    FROM k JOIN g USING (item_code, kind)
), dc AS (
    SELECT *, sum(n) OVER (PARTITION BY item_code, kind ORDER BY dev
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
    FROM d
), s AS (
    SELECT item_code, kind,
           (max(CASE WHEN cum - n < k1 AND k1 <= cum THEN dev END)
            + max(CASE WHEN cum - n < k2 AND k2 <= cum THEN dev END)) / 2 AS mad,
           sum(n * dev) / sum(n) AS meanad
    FROM dc GROUP BY item_code, kind
), flagged AS (
    SELECT k.item_code, k.kind, k.amount, g.med_amount,
           CASE WHEN s.mad > 0 THEN 0.6745 * (k.x - g.med_x) / s.mad
                WHEN s.meanad > 0 THEN (k.x - g.med_x) / (1.2533 * s.meanad)
                ELSE 0.0 END AS z
    FROM k JOIN g USING (item_code, kind) JOIN s USING (item_code, kind)
    WHERE k.amount >= $min_amount
), hit AS (
    SELECT * FROM flagged WHERE z >= $z_min
), z AS (
    SELECT l.line_id, l.visit_id, l.item_code, l.amount, h.kind, v.person_id, v.institution_id,
           coalesce(l.physician_id, v.physician_id) AS physician_id, h.med_amount, h.z
    FROM claim_lines l
    JOIN (SELECT DISTINCT item_code, amount FROM hit) c ON c.item_code = l.item_code AND c.amount = l.amount
    JOIN visits v ON v.visit_id = l.visit_id
    JOIN institutions i ON i.institution_id = v.institution_id
    JOIN hit h ON h.item_code = l.item_code AND h.amount = l.amount AND h.kind = i.kind
)
SELECT z.visit_id, z.line_id, z.person_id, z.institution_id, z.physician_id,
       z.amount - z.med_amount AS amount_at_risk,
       z.item_code || ' ' || coalesce(c.name, '') || ' line ' || printf('%.2f', round(z.amount, 2))
         || ' vs median ' || printf('%.2f', round(z.med_amount, 2)) || ' at ' || z.kind || 's (z='
         || CAST(round(z.z, 1) AS VARCHAR) || ')' AS evidence
FROM z LEFT JOIN catalog c USING (item_code)
