// The active inspectors list, with the institutions each is bound to. No parameters.
MATCH (x:Inspector)
WHERE coalesce(x.active, true)
RETURN x.inspector_id AS inspector_id, x.name AS name, x.unit AS unit, coalesce(x.bound, []) AS bound,
       COUNT { (x)-[:ASSIGNED]->(:Inspection) } AS n_inspections
ORDER BY inspector_id
