-- An example of a script (graph/engine.py's doctest of Engine.script): the trace table with
-- its optional columns present, NULL (or false) where the export leaves them out.
CREATE OR REPLACE TEMP VIEW rs_trace_example AS
SELECT line_id, trace_code, CAST(scan_time AS TIMESTAMP) AS scan_time,
       coalesce(CAST(reversed AS BOOLEAN), false) AS reversed
FROM (FROM drug_traces UNION ALL BY NAME
      SELECT NULL::TIMESTAMP AS scan_time, NULL::BOOLEAN AS reversed WHERE false);
