// family_links is keyed by (person_id, related_person_id, relation): a pair bound both as
// family (共济) and as a proxy (代购) has two FAMILY relationships, one per relation
UNWIND $rows AS r
MATCH (a:Person {person_id: r.person_id})
MATCH (b:Person {person_id: r.related_person_id})
MERGE (a)-[f:FAMILY {relation: coalesce(r.relation, '')}]->(b)
