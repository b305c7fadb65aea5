// The institutions list a random-inspection draw is made from (检查对象名录): every institution
// (or those of $kinds / in $districts), with its risk from the latest detection run: the entity
// score (risk_score) and the strongest active early warning, weighted by $weights (level -> [0, 1]).
// $districts: list or null (the whole city); $kinds: list (empty: all); $weights: map.
MATCH (i:Institution)
WHERE ($districts IS NULL OR i.district IN $districts) AND (size($kinds) = 0 OR i.kind IN $kinds)
OPTIONAL MATCH (w:Warning)-[:ABOUT]->(i) WHERE coalesce(w.active, true)
WITH i, max(coalesce($weights[coalesce(w.level, '')], 0.0)) AS warning
RETURN i.institution_id AS institution_id, i.name AS name, i.kind AS kind, i.level AS level,
       i.ownership AS ownership, i.district AS district, coalesce(i.risk_score, 0.0) AS score,
       coalesce(warning, 0.0) AS warning
ORDER BY institution_id
