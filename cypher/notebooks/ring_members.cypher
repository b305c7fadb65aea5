// Notebook 01: the members of a lead, with their fused risk, how active they are
// in the whole fund and how many ordinary rule hits name them.
// $lead_id
MATCH (:Lead {lead_id: $lead_id})-[:INCLUDES]->(m)
WITH m, CASE WHEN m:Person THEN 'person' WHEN m:Physician THEN 'physician'
             WHEN m:Institution THEN 'institution' ELSE 'other' END AS entity_type
RETURN entity_type,
       coalesce(m.person_id, m.physician_id, m.institution_id) AS entity_id,
       m.name AS name,
       m.district AS district,
       coalesce(m.kind, m.specialty, m.insurance_type) AS role,
       CASE entity_type
         WHEN 'person' THEN COUNT { (:Visit)-[:FOR_PERSON]->(m) }
         WHEN 'physician' THEN COUNT { (:Visit)-[:BY]->(m) }
         ELSE COUNT { (:Visit)-[:AT]->(m) } END AS n_visits,
       COUNT { (:RuleHit)-[:AGAINST]->(m) } AS n_rule_hits,
       m.risk_score AS risk_score,
       m.risk_reasons AS risk_reasons
ORDER BY entity_type, coalesce(m.risk_score, 0.0) DESC, entity_id
