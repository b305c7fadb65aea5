UNWIND $rows AS r
MATCH (a:Person {person_id: r.person_id})
MATCH (b:Person {person_id: r.related_person_id})
MERGE (a)-[f:FAMILY]->(b)
SET f.relation = r.relation
