// Warnings with filters, newest month and strongest level first.
// $levels, $indicators: lists (empty = any); $entity_type: string or null; $period_from,
// $period_to: 'YYYY-MM' or null; $active_only: bool; $status: string or null; $skip, $limit.
MATCH (w:Warning)
WHERE (size($levels) = 0 OR w.level IN $levels)
  AND (size($indicators) = 0 OR w.indicator IN $indicators)
  AND ($entity_type IS NULL OR w.entity_type = $entity_type)
  AND ($period_from IS NULL OR w.period >= $period_from)
  AND ($period_to IS NULL OR w.period <= $period_to)
  AND (NOT $active_only OR coalesce(w.active, true))
  AND ($status IS NULL OR coalesce(w.status, 'open') = $status)
OPTIONAL MATCH (w)-[:ABOUT]->(n)
RETURN w.warning_id AS warning_id, w.entity_type AS entity_type, w.entity_id AS entity_id,
       coalesce(n.name, w.entity_id) AS entity_name, w.indicator AS indicator, w.period AS period,
       w.value AS value, w.baseline AS baseline, w.band_low AS band_low, w.band_high AS band_high,
       w.z AS z, w.level AS level, w.kind_of AS kind_of, w.change_period AS change_period,
       w.evidence AS evidence, coalesce(w.status, 'open') AS status, coalesce(w.active, true) AS active,
       n.risk_score AS risk_score
ORDER BY w.period DESC, CASE w.level WHEN 'red' THEN 0 WHEN 'orange' THEN 1 ELSE 2 END, w.z DESC, w.warning_id
SKIP $skip LIMIT $limit
