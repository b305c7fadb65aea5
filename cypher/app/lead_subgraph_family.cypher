// Registered family / proxy links (家庭共济, 代购药) touching a lead's persons.
MATCH (l:Lead {lead_id: $lead_id})-[:INCLUDES]->(p:Person)
MATCH (p)-[r:FAMILY]-(q:Person)
WHERE p.person_id < q.person_id OR NOT EXISTS { (l)-[:INCLUDES]->(q) }
RETURN DISTINCT p.person_id AS person_id, p.name AS person_name,
       q.person_id AS related_person_id, q.name AS related_name, q.district AS related_district,
       r.relation AS relation, EXISTS { (l)-[:INCLUDES]->(q) } AS related_is_member
LIMIT $limit
