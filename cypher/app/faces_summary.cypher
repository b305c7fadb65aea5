// Face captures by verdict (the Faces page header).
MATCH (c:FaceCapture)
RETURN coalesce(c.verdict, 'unknown') AS verdict, count(*) AS n_captures,
       avg(c.distance) AS mean_distance
ORDER BY n_captures DESC
