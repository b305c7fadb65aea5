// One entity's indicators that carry a warning: per indicator the monthly values with the peer band
// (centre and edges), z and level -- the trend an analyst reads against the band.
MATCH (s:IndicatorSeries {entity_type: $entity_type, entity_id: $entity_id})
WHERE $indicator IS NULL OR s.indicator = $indicator
RETURN s.indicator AS indicator, s.periods AS periods, s.values AS values, s.baselines AS baselines,
       s.band_low AS band_low, s.band_high AS band_high, s.z AS z, s.levels AS levels
ORDER BY indicator
