// Whether the database holds any node at all (the bulk import only fills an empty graph).
MATCH (n) RETURN 1 AS found LIMIT 1
