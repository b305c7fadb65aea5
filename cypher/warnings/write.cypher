// Early warnings (动态预警), one per entity, indicator and month, ABOUT the institution or physician.
// A warning seen before keeps its handling fields (status, handler, note: the app's workflow);
// only the detection fields change. $rows: {warning_id, entity_type, entity_id, indicator, period,
// value, baseline, band_low, band_high, z, level, kind_of, change_period, evidence, peer_group};
// $run_id, $now (ISO local time).
UNWIND $rows AS row
MERGE (w:Warning {warning_id: row.warning_id})
ON CREATE SET w.first_seen = localdatetime($now), w.status = 'open'
SET w.entity_type = row.entity_type, w.entity_id = row.entity_id, w.indicator = row.indicator,
    w.period = row.period, w.value = row.value, w.baseline = row.baseline, w.band_low = row.band_low,
    w.band_high = row.band_high, w.z = row.z, w.level = row.level, w.kind_of = row.kind_of,
    w.change_period = row.change_period, w.evidence = row.evidence, w.peer_group = row.peer_group,
    w.run_id = $run_id, w.active = true, w.detected_at = localdatetime($now)
WITH w, row
CALL (row) {
  MATCH (n:Institution {institution_id: row.entity_id}) WHERE row.entity_type = 'institution' RETURN n
  UNION
  MATCH (n:Physician {physician_id: row.entity_id}) WHERE row.entity_type = 'physician' RETURN n
}
MERGE (w)-[:ABOUT]->(n)
