// Ordinary rule hits against a lead's members or on its persons' visits.
CALL (){
  MATCH (:Lead {lead_id: $lead_id})-[:INCLUDES]->(m)<-[:AGAINST]-(h:RuleHit)
  RETURN h
  UNION
  MATCH (:Lead {lead_id: $lead_id})-[:INCLUDES]->(:Person)<-[:FOR_PERSON]-(:Visit)<-[:ON_VISIT]-(h:RuleHit)
  RETURN h
}
OPTIONAL MATCH (h)-[:AGAINST]->(e)
OPTIONAL MATCH (h)-[:ON_VISIT]->(v:Visit)
RETURN h.hit_id AS hit_id, h.rule_id AS rule_id, h.rule_name AS rule_name,
       h.category AS category, h.severity AS severity, h.amount_at_risk AS amount_at_risk,
       h.evidence AS evidence,
       CASE WHEN e:Person THEN 'person' WHEN e:Physician THEN 'physician'
            WHEN e:Institution THEN 'institution' END AS entity_type,
       coalesce(e.person_id, e.physician_id, e.institution_id) AS entity_id,
       v.visit_id AS visit_id, v.month AS month
ORDER BY coalesce(h.amount_at_risk, 0.0) DESC, hit_id
LIMIT $limit
