// Leads: created with status 'new' and a 'detected' event; on later runs only the
// detection fields change -- status, assignee, deadline and the event history are kept.
// $rows: {lead_id, scheme, score, amount_at_risk, summary, rank, n_members, detectors}; $now: ISO local time.
UNWIND $rows AS row
MERGE (l:Lead {lead_id: row.lead_id})
ON CREATE SET l.status = 'new', l.version = 0, l.first_seen = localdatetime($now), l.assignee = null
SET l.scheme = row.scheme, l.score = row.score, l.amount_at_risk = row.amount_at_risk,
    l.summary = row.summary, l.rank = row.rank, l.n_members = row.n_members,
    l.detectors = row.detectors, l.active = true, l.detected_at = localdatetime($now),
    l.run_id = $run_id
WITH l, row
WHERE NOT EXISTS { (l)-[:HAS_EVENT]->(:LeadEvent {action: 'detected'}) }
CREATE (l)-[:HAS_EVENT]->(:LeadEvent {event_id: row.lead_id + ':detected', at: localdatetime($now),
    user: 'ringscope', role: 'system', action: 'detected', from_status: null, to_status: 'new',
    note: 'lead created by detection run ' + $run_id})
