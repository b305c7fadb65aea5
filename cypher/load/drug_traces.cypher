// A pack's path (药品追溯码): one Pack per trace code, DISPENSED_IN each claim line that
// settled it. at = the scan time, else the line's service time, else the visit's start (the
// contract's default); scan_time is what the export said (null when it did not). After the
// batch, every pack it touched is put in order again -- seq 1, 2, ... by (at, line_id) over
// all its settlements, those of earlier loads included -- with n_settlements, first_at and
// last_at on the Pack: a re-run or next month's load recomputes the same order.
UNWIND $rows AS r
MATCH (v:Visit)-[:HAS_LINE]->(l:ClaimLine {line_id: r.line_id})
MERGE (p:Pack {trace_code: r.trace_code})
MERGE (p)-[d:DISPENSED_IN]->(l)
SET d.scan_time = CASE WHEN r.scan_time IS NULL THEN null ELSE localdatetime(r.scan_time) END,
    d.at = coalesce(localdatetime(r.scan_time), l.service_time, v.start_time),
    d.reversed = coalesce(r.reversed, false)
WITH DISTINCT p
CALL (p) {
  MATCH (p)-[d:DISPENSED_IN]->(l:ClaimLine)
  WITH d, l ORDER BY d.at, l.line_id
  WITH collect(d) AS ds
  UNWIND range(0, size(ds) - 1) AS i
  WITH ds, i, ds[i] AS d
  SET d.seq = i + 1
  WITH ds, count(*) AS n
  SET p.n_settlements = size(ds), p.first_at = ds[0].at, p.last_at = ds[size(ds) - 1].at
}
