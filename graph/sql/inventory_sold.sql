-- 进销存 (R-MGT-013/014, models/rules/inventory.py): units and amount billed per institution, item
-- and month (months since year 0: year * 12 + month - 1, of the line's service time, else its
-- settlement's start) for the (institution, item) pairs the institution reports stock of. One
-- group-by over the city's claim lines in the engine; only the monthly sums come back.
-- The lines are summed first and the stocked pairs joined to the sums: joined the other way the
-- planner paired every visit with every item its institution stocks (6e9 rows at 1M persons).
WITH l AS (
    SELECT v.institution_id, cl.item_code, coalesce(cl.service_time, v.start_time) AS w, cl.quantity, cl.amount
    FROM claim_lines cl
    JOIN visits v ON v.visit_id = cl.visit_id
), sold AS (
    SELECT institution_id, item_code, CAST(year(w) * 12 + month(w) - 1 AS BIGINT) AS m,
           sum(quantity) AS sold, sum(amount) AS billed
    FROM l
    WHERE w IS NOT NULL
    GROUP BY institution_id, item_code, CAST(year(w) * 12 + month(w) - 1 AS BIGINT)
)
SELECT s.institution_id, s.item_code, s.m, s.sold, s.billed
FROM sold s
JOIN (SELECT DISTINCT institution_id, item_code FROM inventory) p
  ON p.institution_id = s.institution_id AND p.item_code = s.item_code
