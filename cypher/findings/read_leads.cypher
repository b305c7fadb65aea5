// Every lead with its members as typed ids (used to keep lead ids stable across runs).
MATCH (l:Lead)
OPTIONAL MATCH (l)-[:INCLUDES]->(e)
WITH l, collect(CASE WHEN e:Person THEN 'person:' + e.person_id
                     WHEN e:Physician THEN 'physician:' + e.physician_id
                     WHEN e:Institution THEN 'institution:' + e.institution_id END) AS members
RETURN l.lead_id AS lead_id, l.scheme AS scheme, members, coalesce(l.status, 'new') AS status,
       coalesce(l.active, true) AS active
ORDER BY lead_id
