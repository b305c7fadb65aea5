-- 药品追溯码: the three tables the trace-code analysis reads, with the contract's optional
-- columns present (NULL where the export leaves them out) and typed. Temporary views, made
-- once per engine by graph/traces.py (CREATE OR REPLACE: running it again changes nothing);
-- nothing is copied.
CREATE OR REPLACE TEMP VIEW rs_trace AS
SELECT CAST(line_id AS VARCHAR) AS line_id, CAST(trace_code AS VARCHAR) AS trace_code,
       CAST(scan_time AS TIMESTAMP) AS scan_time, coalesce(CAST(reversed AS BOOLEAN), false) AS reversed
FROM (FROM drug_traces UNION ALL BY NAME
      SELECT NULL::TIMESTAMP AS scan_time, NULL::BOOLEAN AS reversed WHERE false)
WHERE line_id IS NOT NULL AND trace_code IS NOT NULL;

CREATE OR REPLACE TEMP VIEW rs_line AS
SELECT CAST(line_id AS VARCHAR) AS line_id, CAST(visit_id AS VARCHAR) AS visit_id,
       CAST(item_code AS VARCHAR) AS item_code, CAST(quantity AS DOUBLE) AS quantity,
       CAST(amount AS DOUBLE) AS amount, CAST(service_time AS TIMESTAMP) AS service_time,
       CAST(physician_id AS VARCHAR) AS physician_id
FROM (FROM claim_lines UNION ALL BY NAME
      SELECT NULL::TIMESTAMP AS service_time, NULL::VARCHAR AS physician_id WHERE false);

CREATE OR REPLACE TEMP VIEW rs_visit AS
SELECT CAST(visit_id AS VARCHAR) AS visit_id, CAST(person_id AS VARCHAR) AS person_id,
       CAST(institution_id AS VARCHAR) AS institution_id, CAST(physician_id AS VARCHAR) AS physician_id,
       CAST(visit_type AS VARCHAR) AS visit_type, CAST(start_time AS TIMESTAMP) AS start_time,
       CAST(terminal_id AS VARCHAR) AS terminal_id
FROM (FROM visits UNION ALL BY NAME
      SELECT NULL::VARCHAR AS physician_id, NULL::VARCHAR AS terminal_id WHERE false);
