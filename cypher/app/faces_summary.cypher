// Face captures by verdict (the Faces page header).
// Scope: $districts (null = whole city).
MATCH (c:FaceCapture)
WHERE $districts IS NULL OR EXISTS { (c)-[:AT]->(i:Institution) WHERE i.district IN $districts }
RETURN coalesce(c.verdict, 'unknown') AS verdict, count(*) AS n_captures,
       avg(c.distance) AS mean_distance
ORDER BY n_captures DESC
