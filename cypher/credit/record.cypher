// Record a change of credit standing (信用记录): a CreditRecord linked from the physician or
// institution (HAS_CREDIT), chained by PREVIOUS to the record before, which stops being the latest.
// Written only when nothing moved since the standing was computed: the entity's write lock is taken
// first (a throwaway property), then its latest record must still be $row.prev_id and its confirmed
// leads and closed fraud cases must still be the basis the standing was computed from -- otherwise
// no row returns for it and the caller computes it again (two disposals at one moment cannot leave
// a stale standing as the latest, nor record one change twice).
// $rows: {record_id, entity_type, entity_id, prev_id, seq, points, qualification, credit_score, grade,
//         blacklisted, basis_leads, basis_cases, reason, reason_en}; $at: ISO local time;
// $by: who or what caused it; $trigger: 'disposal' | 'snapshot'; $lead_id: the lead whose disposal did, or null.
UNWIND $rows AS row
CALL (row) {
  MATCH (n:Physician {physician_id: row.entity_id}) WHERE row.entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: row.entity_id}) WHERE row.entity_type = 'institution' RETURN n
}
SET n._lock = true
REMOVE n._lock
WITH n, row
OPTIONAL MATCH (n)-[:HAS_CREDIT]->(prev:CreditRecord {latest: true})
WITH n, row, prev,
     [(n)<-[:INCLUDES]-(l:Lead) WHERE l.outcome = 'confirmed' | l.lead_id] AS leads_now,
     [(c:Case)-[:CONCERNS]->(n) WHERE c.label = 'fraud' | c.case_id] AS cases_now
WHERE ((prev IS NULL AND row.prev_id IS NULL) OR prev.record_id = row.prev_id)
  AND all(x IN leads_now WHERE x IN row.basis_leads) AND all(x IN row.basis_leads WHERE x IN leads_now)
  AND all(x IN cases_now WHERE x IN row.basis_cases) AND all(x IN row.basis_cases WHERE x IN cases_now)
CREATE (n)-[:HAS_CREDIT]->(r:CreditRecord {
    record_id: row.record_id, entity_type: row.entity_type, entity_id: row.entity_id, seq: row.seq,
    at: localdatetime($at), points: row.points, qualification: row.qualification,
    credit_score: row.credit_score, grade: row.grade, blacklisted: row.blacklisted,
    basis_leads: row.basis_leads, basis_cases: row.basis_cases, reason: row.reason, reason_en: row.reason_en,
    by: $by, trigger: $trigger, lead_id: $lead_id, latest: true})
FOREACH (p IN CASE WHEN prev IS NULL THEN [] ELSE [prev] END |
  SET p.latest = false
  MERGE (r)-[:PREVIOUS]->(p))
RETURN row.entity_type AS entity_type, row.entity_id AS entity_id, r.record_id AS record_id, r.seq AS seq
