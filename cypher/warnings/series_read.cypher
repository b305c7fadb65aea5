// One indicator's monthly series with its peer band (the trend against the band).
MATCH (s:IndicatorSeries {entity_type: $entity_type, entity_id: $entity_id, indicator: $indicator})
RETURN s.periods AS periods, s.values AS values, s.baselines AS baselines, s.band_low AS band_low,
       s.band_high AS band_high, s.z AS z, s.levels AS levels
