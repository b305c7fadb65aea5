// The members of a lead with their profile and risk.
MATCH (l:Lead {lead_id: $lead_id})-[:INCLUDES]->(m)
WITH m, CASE WHEN m:Person THEN 'person' WHEN m:Physician THEN 'physician'
             WHEN m:Institution THEN 'institution' ELSE 'other' END AS entity_type
RETURN entity_type,
       coalesce(m.person_id, m.physician_id, m.institution_id) AS entity_id,
       m.name AS name,
       m.id_number AS id_number,
       m.district AS district,
       CASE entity_type WHEN 'physician' THEN m.institution_id ELSE null END AS institution_id,
       m.kind AS kind,
       m.specialty AS specialty,
       m.risk_score AS risk_score,
       m.risk_reasons AS risk_reasons
ORDER BY entity_type, coalesce(m.risk_score, 0.0) DESC, entity_id
