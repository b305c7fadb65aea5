// What the physician credit file (医保医师记分) and the institution credit
// rating (信用评价) are computed from, for every physician or institution
// ($entity_type) or one ($entity_id not null): settlements, rule hits by
// severity, money at risk, leads by disposal state, closed cases, and each finding's date
// (finding_dates: the disposal that confirmed a lead,
// a fraud case's closed_on).
CALL () {
  MATCH (n:Physician) WHERE $entity_type = 'physician'
    AND ($entity_id IS NULL OR n.physician_id = $entity_id)
  RETURN n, n.physician_id AS entity_id
  UNION
  MATCH (n:Institution) WHERE $entity_type = 'institution'
    AND ($entity_id IS NULL OR n.institution_id = $entity_id)
  RETURN n, n.institution_id AS entity_id
}
CALL (n) {
  OPTIONAL MATCH (n)<-[:BY|AT]-(v:Visit)
  RETURN count(v) AS n_visits, sum(coalesce(v.total_amount, 0.0)) AS amount
}
CALL (n) {
  OPTIONAL MATCH (n)<-[:AGAINST]-(h:RuleHit)
  RETURN sum(CASE WHEN h.severity = 'high' THEN 1 ELSE 0 END) AS hits_high,
         sum(CASE WHEN h.severity = 'medium' THEN 1 ELSE 0 END) AS hits_medium,
         sum(CASE WHEN h.severity = 'low' THEN 1 ELSE 0 END) AS hits_low,
         sum(coalesce(h.amount_at_risk, 0.0)) AS hits_amount
}
RETURN $entity_type AS entity_type, entity_id, n.name AS name, n.district AS district,
       n.kind AS kind, n.institution_id AS institution_id, n.risk_score AS risk_score,
       n_visits, amount, hits_high, hits_medium, hits_low, hits_amount,
       [(n)<-[:INCLUDES]-(l:Lead) | coalesce(l.status, 'new')] AS lead_statuses,
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
       [(c:Case)-[:CONCERNS]->(n) WHERE c.label = 'cleared' | c.case_id] AS cleared_cases
ORDER BY entity_id
