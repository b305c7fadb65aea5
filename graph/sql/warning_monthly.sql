-- 动态预警: the monthly aggregates behind the early-warning indicators, one row per
-- (entity_type, entity_id, period) for every institution and every attending physician.
-- Grouping sets make one pass over visits and one over claim lines, whatever the city's size.
--
-- Parameters: $exam_pattern (regular expression on a service's name: examinations and
-- laboratory tests, 检查检验), $hv_quantile and $hv_min_price (an item is high-value when its
-- typical unit price -- the catalogue's cap, else the median billed price -- is at least the
-- $hv_quantile of its item type's typical prices and at least $hv_min_price CNY),
-- $readmit_days (a stay starting within this many days of the same person's discharge from the
-- same institution is a readmission).
--
-- Beside the sums, the second moments over settlements (sums of squares and cross products)
-- give each month's value its standard error (a ratio estimator linearised, Cochran 1977 §6.3),
-- so a month of 25 settlements is not judged as firmly as one of 2,500.
WITH billed AS (
    SELECT item_code, approx_quantile(unit_price, 0.5) AS median_price
    FROM claim_lines
    GROUP BY item_code
), item AS (
    SELECT c.item_code, c.item_type,
           c.item_type = 'service' AND regexp_matches(coalesce(c.name, ''), $exam_pattern) AS is_exam,
           coalesce(c.price_cap, b.median_price) AS typical
    FROM catalog c LEFT JOIN billed b USING (item_code)
), item_class AS (
    SELECT item_code, item_type, is_exam,
           coalesce(typical >= greatest(CAST($hv_min_price AS DOUBLE),
                                        quantile_cont(typical, $hv_quantile) OVER (PARTITION BY item_type)),
                    false) AS high_value
    FROM item
), v AS (
    SELECT visit_id, person_id, institution_id, physician_id, visit_type,
           strftime(start_time, '%Y-%m') AS period,
           total_amount,
           CASE WHEN fund_paid IS NOT NULL AND NOT isnan(fund_paid) THEN fund_paid END AS fund_paid
    FROM visits
), ip AS (
    -- inpatient stays: length (days, at least 1) and readmission after a discharge from the same place
    SELECT visit_id,
           greatest(1, date_diff('day', start_time, coalesce(end_time, start_time))) AS los,
           CASE WHEN lag(coalesce(end_time, start_time)) OVER w IS NOT NULL
                 AND start_time >= lag(coalesce(end_time, start_time)) OVER w
                 AND date_diff('hour', lag(coalesce(end_time, start_time)) OVER w, start_time) <= 24 * $readmit_days
                THEN 1 ELSE 0 END AS readmitted
    FROM visits
    WHERE visit_type = 'inpatient'
    WINDOW w AS (PARTITION BY person_id, institution_id ORDER BY start_time, visit_id)
), lv AS (
    -- each settlement's lines by category (the shares are ratios over settlements)
    SELECT l.visit_id,
           count(*) AS n_lines,
           sum(l.amount) AS line_amount,
           coalesce(sum(l.amount) FILTER (WHERE ic.item_type = 'drug'), 0) AS drug,
           coalesce(sum(l.amount) FILTER (WHERE ic.item_type = 'material'), 0) AS material,
           coalesce(sum(l.amount) FILTER (WHERE ic.is_exam), 0) AS exam,
           coalesce(sum(l.amount) FILTER (WHERE ic.high_value), 0) AS high_value
    FROM claim_lines l LEFT JOIN item_class ic USING (item_code)
    GROUP BY l.visit_id
), va AS (
    SELECT CASE WHEN grouping(v.institution_id) = 0 THEN 'institution' ELSE 'physician' END AS entity_type,
           coalesce(v.institution_id, v.physician_id) AS entity_id,
           v.period,
           count(*) AS n_visits,
           count(DISTINCT v.person_id) AS n_persons,
           sum(v.total_amount) AS amount,
           count(*) FILTER (WHERE v.visit_type <> 'inpatient') AS n_ambulatory,
           sum(v.total_amount) FILTER (WHERE v.visit_type <> 'inpatient') AS amount_ambulatory,
           count(*) FILTER (WHERE v.visit_type = 'outpatient') AS n_outpatient,
           count(*) FILTER (WHERE v.visit_type = 'inpatient') AS n_admissions,
           sum(v.total_amount) FILTER (WHERE v.visit_type = 'inpatient') AS amount_inpatient,
           sum(ip.los) AS los_days,
           sum(ip.readmitted) AS n_readmissions,
           sum(v.fund_paid) AS fund_paid,
           sum(v.total_amount) FILTER (WHERE v.fund_paid IS NOT NULL) AS amount_with_fund,
           sum(v.total_amount * v.total_amount) FILTER (WHERE v.visit_type <> 'inpatient') AS amount_ambulatory_sq,
           -- the mean of log amounts (a geometric mean): what the level tests judge, being far less
           -- swayed by one dear settlement than the arithmetic mean the bureau reports
           sum(ln(greatest(v.total_amount, 0.01))) FILTER (WHERE v.visit_type <> 'inpatient') AS log_amount_ambulatory,
           sum(ln(greatest(v.total_amount, 0.01)) ^ 2) FILTER (WHERE v.visit_type <> 'inpatient')
               AS log_amount_ambulatory_sq,
           sum(ln(greatest(v.total_amount, 0.01))) FILTER (WHERE v.visit_type = 'inpatient') AS log_amount_inpatient,
           sum(ln(greatest(v.total_amount, 0.01)) ^ 2) FILTER (WHERE v.visit_type = 'inpatient')
               AS log_amount_inpatient_sq,
           sum(v.total_amount * v.total_amount) FILTER (WHERE v.visit_type = 'inpatient') AS amount_inpatient_sq,
           sum(ip.los * ip.los) AS los_days_sq,
           sum(v.fund_paid * v.fund_paid) AS fund_paid_sq,
           sum(v.fund_paid * v.total_amount) AS fund_paid_x,
           sum(v.total_amount * v.total_amount) FILTER (WHERE v.fund_paid IS NOT NULL) AS amount_with_fund_sq
    FROM v LEFT JOIN ip USING (visit_id)
    GROUP BY GROUPING SETS ((v.institution_id, v.period), (v.physician_id, v.period))
    HAVING coalesce(v.institution_id, v.physician_id) IS NOT NULL
), la AS (
    SELECT CASE WHEN grouping(v.institution_id) = 0 THEN 'institution' ELSE 'physician' END AS entity_type,
           coalesce(v.institution_id, v.physician_id) AS entity_id,
           v.period,
           count(*) AS n_line_visits,
           sum(lv.n_lines) AS n_lines,
           sum(lv.line_amount) AS line_amount,
           sum(lv.line_amount * lv.line_amount) AS line_amount_sq,
           sum(lv.drug) AS drug_amount, sum(lv.drug * lv.drug) AS drug_amount_sq,
           sum(lv.drug * lv.line_amount) AS drug_amount_x,
           sum(lv.material) AS material_amount, sum(lv.material * lv.material) AS material_amount_sq,
           sum(lv.material * lv.line_amount) AS material_amount_x,
           sum(lv.exam) AS exam_amount, sum(lv.exam * lv.exam) AS exam_amount_sq,
           sum(lv.exam * lv.line_amount) AS exam_amount_x,
           sum(lv.high_value) AS high_value_amount, sum(lv.high_value * lv.high_value) AS high_value_amount_sq,
           sum(lv.high_value * lv.line_amount) AS high_value_amount_x
    FROM lv JOIN v USING (visit_id)
    GROUP BY GROUPING SETS ((v.institution_id, v.period), (v.physician_id, v.period))
    HAVING coalesce(v.institution_id, v.physician_id) IS NOT NULL
)
SELECT va.*,
       coalesce(la.n_line_visits, 0) AS n_line_visits, coalesce(la.n_lines, 0) AS n_lines,
       coalesce(la.line_amount, 0) AS line_amount, coalesce(la.line_amount_sq, 0) AS line_amount_sq,
       coalesce(la.drug_amount, 0) AS drug_amount, coalesce(la.drug_amount_sq, 0) AS drug_amount_sq,
       coalesce(la.drug_amount_x, 0) AS drug_amount_x,
       coalesce(la.material_amount, 0) AS material_amount, coalesce(la.material_amount_sq, 0) AS material_amount_sq,
       coalesce(la.material_amount_x, 0) AS material_amount_x,
       coalesce(la.exam_amount, 0) AS exam_amount, coalesce(la.exam_amount_sq, 0) AS exam_amount_sq,
       coalesce(la.exam_amount_x, 0) AS exam_amount_x,
       coalesce(la.high_value_amount, 0) AS high_value_amount,
       coalesce(la.high_value_amount_sq, 0) AS high_value_amount_sq,
       coalesce(la.high_value_amount_x, 0) AS high_value_amount_x
FROM va LEFT JOIN la USING (entity_type, entity_id, period)
ORDER BY va.entity_type, va.entity_id, va.period
