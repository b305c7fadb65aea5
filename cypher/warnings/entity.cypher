// Every warning about one institution or physician, by indicator and month.
MATCH (w:Warning {entity_type: $entity_type, entity_id: $entity_id})
RETURN w.warning_id AS warning_id, w.indicator AS indicator, w.period AS period, w.value AS value,
       w.baseline AS baseline, w.band_low AS band_low, w.band_high AS band_high, w.z AS z, w.level AS level,
       w.kind_of AS kind_of, w.change_period AS change_period, w.evidence AS evidence,
       coalesce(w.status, 'open') AS status, coalesce(w.active, true) AS active
ORDER BY w.indicator, w.period
