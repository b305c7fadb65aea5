// Notebook 01: the members of a lead, with their fused risk, how active they are
// in the whole fund and how many ordinary rule hits name them.
// $lead_id
// Scope: $districts (the caller's; null = whole city), $referred_only (police
// liaison): a lead outside them gives no rows (as cypher/app/lead_queue.cypher).
MATCH (l:Lead {lead_id: $lead_id})
WHERE ($districts IS NULL
       OR any(sd IN [(l)-[:INCLUDES]->(sm) WHERE sm:Person OR sm:Institution | sm.district]
                   + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(si:Institution) | si.district]
              WHERE sd IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
MATCH (l)-[:INCLUDES]->(m)
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
