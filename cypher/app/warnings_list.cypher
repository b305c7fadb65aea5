// Early warnings (动态预警) the caller may see, newest month and strongest level first.
// $levels, $indicators: lists (empty = any); $entity_type, $entity_id, $status: string or null;
// $period_from, $period_to: 'YYYY-MM' or null; $active_only: bool; paging.
// Scope: $districts (the institution's; a physician's is their institution's; null = whole city).
MATCH (w:Warning)
WHERE (size($levels) = 0 OR w.level IN $levels)
  AND (size($indicators) = 0 OR w.indicator IN $indicators)
  AND ($entity_type IS NULL OR w.entity_type = $entity_type)
  AND ($entity_id IS NULL OR w.entity_id = $entity_id)
  AND ($period_from IS NULL OR w.period >= $period_from)
  AND ($period_to IS NULL OR w.period <= $period_to)
  AND (NOT $active_only OR coalesce(w.active, true))
  AND ($status IS NULL OR coalesce(w.status, 'open') = $status)
MATCH (w)-[:ABOUT]->(n)
WITH w, n, coalesce(n.district, [(n)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) AS district
WHERE $districts IS NULL OR district IN $districts
RETURN w.warning_id AS warning_id, w.period AS period, w.level AS warn_level, w.entity_type AS entity_type,
       w.entity_id AS entity_id, n.name AS name, district, w.indicator AS indicator, w.value AS indicator_value,
       w.baseline AS baseline, w.band_low AS band_low, w.band_high AS band_high, w.z AS z,
       w.kind_of AS warn_kind, w.change_period AS change_period, coalesce(w.status, 'open') AS warn_status,
       w.handler AS handler, w.note AS warn_note, n.risk_score AS risk_score, w.evidence AS warn_evidence
ORDER BY w.period DESC, CASE w.level WHEN 'red' THEN 0 WHEN 'orange' THEN 1 ELSE 2 END, w.z DESC, w.warning_id
SKIP $skip LIMIT $limit
