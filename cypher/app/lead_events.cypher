// The disposal history of a lead, newest first.
MATCH (l:Lead {lead_id: $lead_id})-[:HAS_EVENT]->(e:LeadEvent)
RETURN e.event_id AS event_id, toString(e.at) AS at, e.user AS user, e.role AS role,
       e.action AS action, e.from_status AS from_status, e.to_status AS to_status,
       e.assignee AS assignee, toString(e.deadline) AS deadline, e.note AS note,
       e.recovered AS recovered, e.outcome AS outcome
ORDER BY e.at DESC, e.event_id DESC
