// Re-load of physicians: drop the institution a physician row names.
UNWIND $rows AS r
MATCH (d:Physician {physician_id: r.physician_id})-[x:PRACTISES_AT]->()
DELETE x
