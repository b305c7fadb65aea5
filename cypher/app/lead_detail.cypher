// One lead's own properties (temporal values as ISO strings).
MATCH (l:Lead {lead_id: $lead_id})
RETURN l.lead_id AS lead_id, l.rank AS rank, l.scheme AS scheme, l.score AS score,
       l.amount_at_risk AS amount_at_risk, l.summary AS summary,
       coalesce(l.status, 'new') AS status, l.assignee AS assignee,
       toString(l.deadline) AS deadline, toString(l.first_seen) AS first_seen,
       toString(l.updated_at) AS updated_at, coalesce(l.version, 0) AS version,
       coalesce(l.recovered, 0.0) AS recovered, l.outcome AS outcome, l.detectors AS detectors,
       coalesce(l.referred, false) AS referred
