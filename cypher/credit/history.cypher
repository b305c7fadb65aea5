// A physician's or institution's credit history (信用记录沿革), newest first: every CreditRecord (the
// standing, what it rested on, why it changed, who or what caused it) and, for each lead a record
// named, the lead's appeal step (申诉, $appeal) -- when the appeal was lodged and how it ended: upheld
// (the lead left the step no longer confirmed) or rejected (still confirmed).
CALL () {
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
CALL (n) {
  MATCH (n)-[:HAS_CREDIT]->(r:CreditRecord)
  RETURN r.at AS at, r.seq AS seq, 'record' AS credit_event, r.points AS points, r.qualification AS qualification,
         r.credit_score AS credit_score, r.grade AS grade, r.blacklisted AS blacklisted,
         r.basis_leads + r.basis_cases AS basis, r.reason AS reason, r.reason_en AS reason_en, r.by AS by,
         r.trigger AS trigger, r.lead_id AS lead_id
  UNION ALL
  MATCH (n)-[:HAS_CREDIT]->(r:CreditRecord)
  UNWIND r.basis_leads AS lid
  WITH DISTINCT lid
  MATCH (:Lead {lead_id: lid})-[:HAS_EVENT]->(e:LeadEvent)
  WHERE (e.to_status = $appeal AND coalesce(e.from_status, '') <> $appeal)
     OR (e.from_status = $appeal AND e.to_status <> $appeal)
  RETURN e.at AS at, null AS seq,
         CASE WHEN e.to_status = $appeal THEN 'appeal_lodged'
              WHEN e.outcome = 'confirmed' THEN 'appeal_rejected' ELSE 'appeal_upheld' END AS credit_event,
         null AS points, null AS qualification, null AS credit_score, null AS grade, null AS blacklisted,
         [lid] AS basis, e.note AS reason, e.note AS reason_en, e.user AS by, 'disposal' AS trigger, lid AS lead_id
}
RETURN toString(at) AS at, seq, credit_event, points, qualification, credit_score, grade, blacklisted, basis,
       reason, reason_en, by, trigger, lead_id
ORDER BY at DESC, coalesce(seq, -1) DESC
