// Re-load of known cases: drop the entity a case row names.
UNWIND $rows AS r
MATCH (c:Case {case_id: r.case_id})-[x:CONCERNS]->()
DELETE x
