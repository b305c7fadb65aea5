// Active warnings counted by month, level and indicator (the early-warning overview).
MATCH (w:Warning)
WHERE coalesce(w.active, true)
RETURN w.period AS period, w.level AS level, w.indicator AS indicator, w.entity_type AS entity_type,
       count(*) AS n, count(DISTINCT w.entity_id) AS n_entities
ORDER BY period DESC, level, indicator, entity_type
