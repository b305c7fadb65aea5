// What a physician's or institution's credit standing rests on -- outcomes only (issue 13): the
// confirmed leads that include it and the closed fraud cases that concern it, never its rule hits --
// beside its latest CreditRecord (the standing last recorded and the leads and cases it named) and
// what became of those leads since: deleted, still confirmed, taken through the appeal step ($appeal).
// finding_dates: each finding's date (the disposal that confirmed a lead (the first event of
// the confirmed outcome it now holds), a case's closed_on), for the
// scoring year.
// $entity_type: 'physician' | 'institution'; $entity_ids: a list, or null for every one of the type.
CALL () {
  MATCH (n:Physician) WHERE $entity_type = 'physician'
    AND ($entity_ids IS NULL OR n.physician_id IN $entity_ids)
  RETURN n, n.physician_id AS entity_id
  UNION
  MATCH (n:Institution) WHERE $entity_type = 'institution'
    AND ($entity_ids IS NULL OR n.institution_id IN $entity_ids)
  RETURN n, n.institution_id AS entity_id
}
OPTIONAL MATCH (n)-[:HAS_CREDIT]->(r:CreditRecord {latest: true})
WITH n, entity_id, r, coalesce(r.basis_leads, []) AS prev_leads
RETURN entity_id,
       [(n)<-[:INCLUDES]-(l:Lead) WHERE l.outcome = 'confirmed' | l.lead_id] AS confirmed_leads,
       [(c:Case)-[:CONCERNS]->(n) WHERE c.label = 'fraud' | c.case_id] AS fraud_cases,
       [(n)<-[:INCLUDES]-(l:Lead) WHERE l.outcome = 'confirmed' |
          {id: l.lead_id, on: toString(date(COLLECT {     // the first event of the confirmed outcome now held
             MATCH (l)-[:HAS_EVENT]->(e:LeadEvent) WHERE e.outcome = 'confirmed'
               AND NOT EXISTS { MATCH (l)-[:HAS_EVENT]->(x:LeadEvent)
                                WHERE x.at > e.at AND coalesce(x.outcome, '') <> 'confirmed' }
             RETURN e.at ORDER BY e.at LIMIT 1 }[0]))}]
       + [(c:Case)-[:CONCERNS]->(n) WHERE c.label = 'fraud' | {id: c.case_id, on: toString(c.closed_on)}]
         AS finding_dates,
       r.record_id AS prev_id, r.seq AS prev_seq, r.points AS prev_points, r.qualification AS prev_qualification,
       r.credit_score AS prev_credit_score, r.grade AS prev_grade, r.blacklisted AS prev_blacklisted,
       prev_leads, coalesce(r.basis_cases, []) AS prev_cases,
       [lid IN prev_leads WHERE NOT EXISTS { MATCH (:Lead {lead_id: lid}) }] AS prev_gone,
       [lid IN prev_leads WHERE EXISTS { MATCH (:Lead {lead_id: lid, outcome: 'confirmed'}) }] AS prev_confirmed,
       [lid IN prev_leads WHERE EXISTS {
          MATCH (:Lead {lead_id: lid})-[:HAS_EVENT]->(e:LeadEvent) WHERE e.to_status = $appeal }] AS prev_appealed
ORDER BY entity_id
