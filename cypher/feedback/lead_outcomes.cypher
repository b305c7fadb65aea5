// Closed leads' outcomes (结案结论) as labels: every lead closed as confirmed (查实) or cleared
// (排除), when it was last closed and by whom, and its members as they were then: the lead's last
// version (LeadVersion) made no later than the closing, or its current members when it has none
// (a later run may have changed the members; the verdict was on what the investigator saw).
MATCH (l:Lead)-[:HAS_EVENT]->(e:LeadEvent)
WHERE e.to_status = '结案' AND e.outcome IN ['confirmed', 'cleared']
WITH l, e ORDER BY e.at DESC, e.event_id DESC
WITH l, collect(e)[0] AS e
OPTIONAL MATCH (l)-[:HAS_VERSION]->(v:LeadVersion)
WHERE v.at <= e.at AND size(coalesce(v.members, [])) > 0
WITH l, e, v ORDER BY v.at DESC, v.seq DESC
WITH l, e, collect(v)[0] AS v
RETURN l.lead_id AS lead_id, coalesce(l.scheme, 'other') AS scheme, e.outcome AS outcome,
       toString(e.at) AS closed_at, e.event_id AS event_id, e.user AS closed_by,
       CASE WHEN v IS NULL
            THEN [(l)-[:INCLUDES]->(m) | CASE WHEN m:Person THEN 'person:' + m.person_id
                                             WHEN m:Physician THEN 'physician:' + m.physician_id
                                             ELSE 'institution:' + m.institution_id END]
            ELSE v.members END AS members
ORDER BY lead_id
