-- 进销存 × 药品追溯码: packs dispensed at an institution whose stock book (inventory) shows
-- neither a purchase of the item nor stock on hand in or before the month of the sale (with the
-- settlement's person and physician). Only institutions that keep a book are judged, and only
-- months the book covers; where the book never states opening stock, the first $grace_months
-- months are not judged either (stock bought before the book began is unknown). One row per
-- claim line:
--   kind 'never'  the book shows no purchase of the item and no stock at any time;
--   kind 'later'  the first purchase (or stock) comes in a later month: sold before bought.
-- n_uncounted: the line's flagged packs not in the frame `counted` (line_id, trace_code): packs
-- another trace rule already counts. Reads the views of trace_views.sql.
-- On a city's year the settlements are judged first, by the month of the visit with a month's
-- slack either way; only the candidate lines' packs are then read from the trace table and
-- judged by their own scan month (a scan more than a month away from its settlement is a data
-- error other rules see).
WITH inv AS (
    SELECT CAST(institution_id AS VARCHAR) AS institution_id, CAST(item_code AS VARCHAR) AS item_code,
           TRY_CAST(substr(CAST(period AS VARCHAR), 1, 4) AS INTEGER) * 12
             + TRY_CAST(substr(CAST(period AS VARCHAR), 6, 2) AS INTEGER) - 1 AS mon,
           CAST(qty_purchased AS DOUBLE) AS purchased, CAST(qty_opening AS DOUBLE) AS opening
    FROM (FROM inventory UNION ALL BY NAME SELECT NULL::DOUBLE AS qty_opening WHERE false)
), books AS (
    SELECT institution_id, min(mon) AS book_first, max(mon) AS book_last,
           min(mon) + CASE WHEN bool_or(opening IS NOT NULL) THEN 0 ELSE $grace_months END AS judged_from
    FROM inv WHERE mon IS NOT NULL GROUP BY institution_id
), item AS (
    SELECT institution_id, item_code,
           least(min(mon) FILTER (WHERE purchased > 0), min(mon) FILTER (WHERE opening > 0)) AS supplied,
           min(mon) FILTER (WHERE purchased > 0) AS first_buy,
           min(mon) FILTER (WHERE opening > 0) AS first_stock
    FROM inv WHERE mon IS NOT NULL GROUP BY ALL
), bv AS MATERIALIZED (   -- the settlements at institutions that keep a book
    SELECT v.visit_id, v.institution_id, v.person_id, v.physician_id, v.start_time, b.book_last, b.judged_from
    FROM rs_visit v JOIN books b USING (institution_id)
), cand AS MATERIALIZED (  -- their lines that may hold such packs (a month's slack)
    SELECT l.line_id, l.visit_id, l.item_code, l.amount, v.institution_id, v.person_id, v.physician_id,
           l.service_time, v.start_time, v.book_last, v.judged_from, i.supplied, i.first_buy, i.first_stock
    FROM rs_line l
    JOIN bv v USING (visit_id)
    LEFT JOIN item i ON i.institution_id = v.institution_id AND i.item_code = l.item_code
    WHERE year(coalesce(l.service_time, v.start_time)) * 12 + month(coalesce(l.service_time, v.start_time)) - 1
              BETWEEN v.judged_from - 1 AND v.book_last + 1
      AND (i.supplied IS NULL
           OR i.supplied > year(coalesce(l.service_time, v.start_time)) * 12
                           + month(coalesce(l.service_time, v.start_time)) - 2)
), f AS (         -- their packs (every pack of a candidate line), judged by the pack's own month
    SELECT c.*, t.trace_code, count(*) OVER (PARTITION BY c.line_id) AS n_codes,
           year(coalesce(t.scan_time, c.service_time, c.start_time)) * 12
             + month(coalesce(t.scan_time, c.service_time, c.start_time)) - 1 AS mon
    FROM rs_trace t JOIN cand c USING (line_id)
), flagged AS (
    SELECT * FROM f
    WHERE mon >= judged_from AND mon <= book_last AND (supplied IS NULL OR supplied > mon)
)
SELECT f.line_id, any_value(f.visit_id) AS visit_id, any_value(f.institution_id) AS institution_id,
       any_value(f.person_id) AS person_id, any_value(f.physician_id) AS physician_id,
       any_value(f.item_code) AS item_code, any_value(f.amount) AS amount, any_value(f.n_codes) AS n_codes,
       min(f.mon) AS mon, any_value(f.first_buy) AS first_buy, any_value(f.first_stock) AS first_stock,
       CASE WHEN any_value(f.supplied) IS NULL THEN 'never' ELSE 'later' END AS kind,
       count(*) AS n_packs,
       count(*) FILTER (WHERE c.trace_code IS NULL) AS n_uncounted,
       list(f.trace_code ORDER BY f.trace_code)[1:$max_codes] AS codes
FROM flagged f
LEFT JOIN counted c ON c.line_id = f.line_id AND c.trace_code = f.trace_code
GROUP BY f.line_id
ORDER BY f.line_id
