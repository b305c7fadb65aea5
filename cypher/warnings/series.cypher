// The monthly series of an indicator with its peer band (what a trend chart draws), for the
// series that carry a warning. $rows: {key, entity_type, entity_id, indicator, periods, values,
// baselines, band_low, band_high, z, levels}; $run_id.
UNWIND $rows AS row
MERGE (s:IndicatorSeries {key: row.key})
SET s.entity_type = row.entity_type, s.entity_id = row.entity_id, s.indicator = row.indicator,
    s.periods = row.periods, s.values = row.values, s.baselines = row.baselines,
    s.band_low = row.band_low, s.band_high = row.band_high, s.z = row.z, s.levels = row.levels,
    s.run_id = $run_id
WITH s, row
CALL (row) {
  MATCH (n:Institution {institution_id: row.entity_id}) WHERE row.entity_type = 'institution' RETURN n
  UNION
  MATCH (n:Physician {physician_id: row.entity_id}) WHERE row.entity_type = 'physician' RETURN n
}
MERGE (s)-[:OF]->(n)
