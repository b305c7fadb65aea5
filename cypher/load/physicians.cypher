UNWIND $rows AS r
MERGE (d:Physician {physician_id: r.physician_id})
SET d.name = r.name, d.specialty = r.specialty, d.institution_id = r.institution_id
WITH d, r
MATCH (i:Institution {institution_id: r.institution_id})
MERGE (d)-[:PRACTISES_AT]->(i)
