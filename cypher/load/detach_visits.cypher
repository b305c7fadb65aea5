// Re-load of visits: the relationships a visit row defines are dropped (in the same
// transaction) before the row is merged again, so a visit moved to another person,
// institution, physician or payer keeps no trace of the old one.
UNWIND $rows AS r
MATCH (v:Visit {visit_id: r.visit_id})-[x:FOR_PERSON|AT|BY|PAID_BY]->()
DELETE x
