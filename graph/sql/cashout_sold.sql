-- 进销存 for card cash-out (models/detectors/card_cashout.py, inventory_excess): units sold per
-- institution, item and month -- claim lines joined with their settlement -- for the items each
-- institution reports stock of (the others cannot be checked). One group-by in the engine; the
-- claim lines never leave it.
WITH stocked AS (
    SELECT DISTINCT institution_id, item_code FROM inventory
)
SELECT v.institution_id, cl.item_code, strftime(v.start_time, '%Y-%m') AS period,
       coalesce(sum(cl.quantity), 0) AS sold
FROM claim_lines cl
JOIN visits v ON v.visit_id = cl.visit_id
JOIN stocked s ON s.institution_id = v.institution_id AND s.item_code = cl.item_code
WHERE v.start_time IS NOT NULL
GROUP BY v.institution_id, cl.item_code, strftime(v.start_time, '%Y-%m')
