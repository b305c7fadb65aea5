-- 进销存 × 药品追溯码: packs dispensed at an institution whose stock book (inventory) shows
-- neither a purchase of the item nor stock on hand in or before the month of the sale (with the
-- settlement's person and physician). Only
-- institutions that keep a book are judged, and only months the book covers; where the book
-- never states opening stock, the first $grace_months months are not judged either (stock
-- bought before the book began is unknown). One row per claim line:
--   kind 'never'  the book shows no purchase of the item and no stock at any time;
--   kind 'later'  the first purchase (or stock) comes in a later month: sold before bought.
-- n_uncounted: the line's flagged packs not in the frame `counted` (line_id, trace_code): packs
-- another trace rule already counts. Reads the views of trace_views.sql.
WITH inv AS (
    SELECT CAST(institution_id AS VARCHAR) AS institution_id, CAST(item_code AS VARCHAR) AS item_code,
           TRY_CAST(substr(CAST(period AS VARCHAR), 1, 4) AS INTEGER) * 12
             + TRY_CAST(substr(CAST(period AS VARCHAR), 6, 2) AS INTEGER) - 1 AS mon,
           CAST(qty_purchased AS DOUBLE) AS purchased, CAST(qty_opening AS DOUBLE) AS opening
    FROM (FROM inventory UNION ALL BY NAME SELECT NULL::DOUBLE AS qty_opening WHERE false)
), books AS (
    SELECT institution_id, min(mon) AS book_first, max(mon) AS book_last,
           bool_or(opening IS NOT NULL) AS states_opening
    FROM inv WHERE mon IS NOT NULL GROUP BY institution_id
), item AS (
    SELECT institution_id, item_code,
           min(mon) FILTER (WHERE purchased > 0) AS first_buy,
           min(mon) FILTER (WHERE opening > 0) AS first_stock
    FROM inv WHERE mon IS NOT NULL GROUP BY ALL
), r AS (
    SELECT t.trace_code, t.line_id, l.visit_id, l.item_code, l.amount, v.institution_id, v.person_id,
           v.physician_id, coalesce(t.scan_time, l.service_time, v.start_time) AS ts
    FROM rs_trace t JOIN rs_line l USING (line_id) JOIN rs_visit v USING (visit_id)
), j AS (
    SELECT r.*, year(r.ts) * 12 + month(r.ts) - 1 AS mon, b.book_first, b.book_last, b.states_opening,
           i.first_buy, i.first_stock
    FROM r JOIN books b USING (institution_id)
    LEFT JOIN item i USING (institution_id, item_code)
), f AS (
    SELECT * FROM j
    WHERE mon >= book_first + CASE WHEN states_opening THEN 0 ELSE $grace_months END
      AND mon <= book_last
      AND (first_buy IS NULL OR first_buy > mon) AND (first_stock IS NULL OR first_stock > mon)
), n AS (
    SELECT line_id, count(*) AS n_codes
    FROM rs_trace SEMI JOIN (SELECT DISTINCT line_id FROM f) USING (line_id)
    GROUP BY line_id
)
SELECT f.line_id, any_value(f.visit_id) AS visit_id, any_value(f.institution_id) AS institution_id,
       any_value(f.person_id) AS person_id, any_value(f.physician_id) AS physician_id,
       any_value(f.item_code) AS item_code, any_value(f.amount) AS amount, any_value(n.n_codes) AS n_codes,
       min(f.mon) AS mon, any_value(f.first_buy) AS first_buy, any_value(f.first_stock) AS first_stock,
       CASE WHEN any_value(f.first_buy) IS NULL AND any_value(f.first_stock) IS NULL THEN 'never'
            ELSE 'later' END AS kind,
       count(*) AS n_packs,
       count(*) FILTER (WHERE c.trace_code IS NULL) AS n_uncounted,
       list(f.trace_code ORDER BY f.trace_code)[1:$max_codes] AS codes
FROM f JOIN n USING (line_id)
LEFT JOIN counted c ON c.line_id = f.line_id AND c.trace_code = f.trace_code
GROUP BY f.line_id
ORDER BY f.line_id
