-- 进销存 for card cash-out (models/detectors/card_cashout.py, inventory_excess): units sold per
-- institution, item and month -- claim lines joined with their settlement -- for the items each
-- institution reports stock of (the others cannot be checked). One group-by in the engine; the
-- claim lines never leave it. The lines are summed first and the stocked pairs joined to the
-- sums (joined the other way, the planner paired every visit with every item its institution
-- stocks: 6e9 rows on a 1M-person city, out of memory).
WITH sold AS (
    SELECT v.institution_id, cl.item_code, strftime(v.start_time, '%Y-%m') AS period,
           coalesce(sum(cl.quantity), 0) AS sold
    FROM claim_lines cl
    JOIN visits v ON v.visit_id = cl.visit_id
    WHERE v.start_time IS NOT NULL
    GROUP BY v.institution_id, cl.item_code, strftime(v.start_time, '%Y-%m')
)
SELECT s.institution_id, s.item_code, s.period, s.sold
FROM sold s
JOIN (SELECT DISTINCT institution_id, item_code FROM inventory) p
  ON p.institution_id = s.institution_id AND p.item_code = s.item_code
