// A settlement with its parties. Relationships are MERGEd, so a re-run adds none.
UNWIND $rows AS r
MERGE (v:Visit {visit_id: r.visit_id})
SET v.visit_type = r.visit_type, v.start_time = localdatetime(r.start_time),
    v.end_time = CASE WHEN r.end_time IS NULL THEN null ELSE localdatetime(r.end_time) END,
    v.month = substring(r.start_time, 0, 7), v.diagnosis_codes = r.diagnosis_codes,
    v.total_amount = r.total_amount, v.fund_paid = r.fund_paid, v.account_paid = r.account_paid,
    v.terminal_id = r.terminal_id, v.person_id = r.person_id, v.institution_id = r.institution_id
WITH v, r
MATCH (p:Person {person_id: r.person_id})
MATCH (i:Institution {institution_id: r.institution_id})
MERGE (v)-[:FOR_PERSON]->(p)
MERGE (v)-[:AT]->(i)
WITH v, r
CALL (v, r) {
  MATCH (d:Physician {physician_id: r.physician_id})
  MERGE (v)-[:BY]->(d)
}
CALL (v, r) {
  MATCH (payer:Person {person_id: r.payer_person_id})
  WHERE r.payer_person_id <> r.person_id
  MERGE (v)-[:PAID_BY]->(payer)
}
