-- The path of every traceability code seen on more than one dispensing row (药品追溯码), in
-- scan order, each step classified (docs/detectors.md, "Drug resale"). Reads the views of
-- trace_views.sql. A step's time is its scan time, else its line's service time, else its
-- visit's start (the contract's default). Per step:
--   scanner         the same counter (institution, and terminal where both rows name one)
--                   scanned the code again within $scanner_minutes: a scanner repeat, no sale;
--   first           the code's first sale;
--   after_reversal  the previous sale of the pack was refunded (reversed = true): sold again;
--   split           the pack's remainder (拆零): the same institution, every step of the run
--                   dispensing less than one pack of this code and together at most
--                   1 + $split_tolerance packs. A line of q packs under n codes holds n - 1
--                   whole packs and one part of q - (n - 1) (1.5 packs on two codes: a whole pack
--                   and a half), and which code is the part is not recorded: each code is read as
--                   the part (the least it can hold), so a half sold on, then its other half, is a
--                   split, not a repeat (precision first for a definite rule);
--   repeat          the pack was already sold and not refunded: settled again (回流/串换/空刷).
-- The holder (h_*) of a step is the previous sale that is not a scanner repeat: the settlement
-- whose buyer held the pack before it came back. pack_amount shares the line's amount equally
-- among the codes scanned on it, so the packs of a line never add up to more than was billed.
WITH multi AS (
    SELECT trace_code FROM rs_trace GROUP BY trace_code HAVING count(*) > 1
), r AS (
    SELECT t.trace_code, t.line_id, l.visit_id, l.item_code, l.quantity, l.amount,
           v.person_id, v.institution_id, v.visit_type, v.terminal_id,
           v.physician_id AS visit_physician, coalesce(l.physician_id, v.physician_id) AS prescriber,
           coalesce(t.scan_time, l.service_time, v.start_time) AS ts, t.scan_time IS NULL AS ts_defaulted,
           t.reversed
    FROM rs_trace t SEMI JOIN multi USING (trace_code)
    JOIN rs_line l USING (line_id)
    JOIN rs_visit v USING (visit_id)
), n AS (
    SELECT line_id, count(*) AS n_codes
    FROM rs_trace SEMI JOIN (SELECT DISTINCT line_id FROM r) USING (line_id)
    GROUP BY line_id
), o AS (
    SELECT r.*, n.n_codes, r.amount / n.n_codes AS pack_amount, r.quantity / n.n_codes AS pack_qty,
           least(greatest(r.quantity - (n.n_codes - 1), 0), 1) AS code_share,
           row_number() OVER w AS seq, count(*) OVER (PARTITION BY r.trace_code) AS n_steps,
           lag(r.institution_id) OVER w AS p_inst, lag(r.terminal_id) OVER w AS p_term,
           lag(r.ts) OVER w AS p_ts
    FROM r JOIN n USING (line_id)
    WINDOW w AS (PARTITION BY r.trace_code ORDER BY r.ts, r.line_id)
), s AS (
    SELECT *, coalesce(seq > 1 AND institution_id = p_inst
                       AND (terminal_id IS NULL OR p_term IS NULL OR terminal_id = p_term)
                       AND epoch(ts) - epoch(p_ts) <= $scanner_minutes * 60, false) AS scanner
    FROM o
), sale AS (
    SELECT *, row_number() OVER w AS sale_seq,
           lag(reversed) OVER w AS h_reversed, lag(person_id) OVER w AS h_person,
           lag(institution_id) OVER w AS h_inst, lag(line_id) OVER w AS h_line,
           lag(visit_id) OVER w AS h_visit, lag(prescriber) OVER w AS h_prescriber,
           lag(visit_type) OVER w AS h_visit_type, lag(ts) OVER w AS h_ts, lag(item_code) OVER w AS h_item
    FROM s WHERE NOT scanner
    WINDOW w AS (PARTITION BY trace_code ORDER BY ts, line_id)
), runs AS (
    SELECT *, sum(brk) OVER (PARTITION BY trace_code ORDER BY ts, line_id ROWS UNBOUNDED PRECEDING) AS run
    FROM (SELECT *, CASE WHEN sale_seq = 1 OR h_reversed OR institution_id IS DISTINCT FROM h_inst
                              OR coalesce(code_share, 1) >= 1 - 1e-9 THEN 1 ELSE 0 END AS brk
          FROM sale)
), cls AS (
    SELECT *, sum(coalesce(code_share, 1)) OVER (PARTITION BY trace_code, run ORDER BY ts, line_id
                                                         ROWS UNBOUNDED PRECEDING) AS run_qty
    FROM runs
)
SELECT trace_code, seq, n_steps, line_id, visit_id, item_code, person_id, institution_id, visit_type,
       terminal_id, visit_physician, prescriber, ts, ts_defaulted, reversed, quantity, amount, n_codes,
       pack_qty, pack_amount,
       CASE WHEN sale_seq = 1 THEN 'first'
            WHEN h_reversed THEN 'after_reversal'
            WHEN brk = 0 AND run_qty <= 1 + $split_tolerance THEN 'split'
            ELSE 'repeat' END AS status,
       CASE WHEN sale_seq > 1 THEN h_person END AS h_person,
       CASE WHEN sale_seq > 1 THEN h_inst END AS h_inst,
       CASE WHEN sale_seq > 1 THEN h_line END AS h_line,
       CASE WHEN sale_seq > 1 THEN h_visit END AS h_visit,
       CASE WHEN sale_seq > 1 THEN h_prescriber END AS h_prescriber,
       CASE WHEN sale_seq > 1 THEN h_visit_type END AS h_visit_type,
       CASE WHEN sale_seq > 1 THEN h_ts END AS h_ts,
       CASE WHEN sale_seq > 1 THEN h_item END AS h_item
FROM cls
UNION ALL BY NAME
SELECT trace_code, seq, n_steps, line_id, visit_id, item_code, person_id, institution_id, visit_type,
       terminal_id, visit_physician, prescriber, ts, ts_defaulted, reversed, quantity, amount, n_codes,
       pack_qty, pack_amount, 'scanner' AS status
FROM s WHERE scanner
ORDER BY trace_code, seq
