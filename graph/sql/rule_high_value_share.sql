-- R-MED-012 高值药品占比 (inputs): per prescriber (the line's physician, else the visit's), drug lines,
-- drug spending and spending on high-value drugs, i.e. unit price at or above the city's
-- $price_quantile of drug lines (linear interpolation); thr is that price.
WITH li AS (
    SELECT coalesce(l.physician_id, v.physician_id) AS doc, l.amount, l.unit_price
    FROM claim_lines l JOIN visits v USING (visit_id) JOIN catalog c ON c.item_code = l.item_code
    WHERE c.item_type = 'drug' AND coalesce(l.physician_id, v.physician_id) IS NOT NULL
), t AS (
    SELECT quantile_cont(unit_price, $price_quantile) AS thr FROM li
)
SELECT doc, count(*) AS n, sum(amount) AS amt,
       sum(CASE WHEN unit_price >= t.thr THEN amount ELSE 0.0 END) AS hv, any_value(t.thr) AS thr
FROM li, t
GROUP BY doc
ORDER BY doc
