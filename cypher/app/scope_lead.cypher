// Whether a lead is in a caller's scope: the districts of its members (persons
// and institutions by their own district, physicians by their institution's)
// and whether it was ever referred to the police (移送公安).
MATCH (l:Lead {lead_id: $lead_id})
RETURN l.lead_id AS lead_id,
       [(l)-[:INCLUDES]->(m) WHERE m:Person OR m:Institution | m.district]
       + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(i:Institution) | i.district] AS districts,
       (coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false)) AS referred
