// Active early warnings the caller may see, counted by month, level and indicator.
// Scope: $districts (null = whole city).
MATCH (w:Warning)-[:ABOUT]->(n)
WHERE coalesce(w.active, true)
WITH w, coalesce(n.district, [(n)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) AS district
WHERE $districts IS NULL OR district IN $districts
RETURN w.period AS period, w.level AS warn_level, w.indicator AS indicator, count(*) AS n,
       count(DISTINCT w.entity_type + ':' + w.entity_id) AS n_entities,
       count(DISTINCT CASE WHEN coalesce(w.status, 'open') = 'open' THEN w END) AS n_open
ORDER BY period DESC, warn_level, indicator
