// Every lead an entity was ever a member of, by version: when it joined and when it was dropped.
// $member: typed id ('person:P1').
MATCH (v:LeadVersion)
WHERE $member IN v.members OR $member IN v.dropped
WITH v.lead_id AS lead_id, v ORDER BY v.seq
WITH lead_id, collect({seq: v.seq, run_id: v.run_id, at: toString(v.at), member: $member IN v.members,
                       dropped: $member IN v.dropped}) AS versions
RETURN lead_id, versions
ORDER BY lead_id
