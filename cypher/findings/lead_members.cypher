// A lead's members (typed ids 'person:P1'): INCLUDES to each; members no longer in the lead are unlinked.
// $rows: {lead_id, members: [typed ids]}
UNWIND $rows AS row
MATCH (l:Lead {lead_id: row.lead_id})
OPTIONAL MATCH (l)-[old:INCLUDES]->(e)
WHERE NOT (CASE WHEN e:Person THEN 'person:' + e.person_id
                WHEN e:Physician THEN 'physician:' + e.physician_id
                ELSE 'institution:' + e.institution_id END) IN row.members
DELETE old
WITH DISTINCT l, row
UNWIND row.members AS m
WITH l, split(m, ':')[0] AS t, substring(m, size(split(m, ':')[0]) + 1) AS id
OPTIONAL MATCH (p:Person {person_id: id}) WHERE t = 'person'
OPTIONAL MATCH (d:Physician {physician_id: id}) WHERE t = 'physician'
OPTIONAL MATCH (i:Institution {institution_id: id}) WHERE t = 'institution'
WITH l, coalesce(p, d, i) AS e
WHERE e IS NOT NULL
MERGE (l)-[:INCLUDES]->(e)
