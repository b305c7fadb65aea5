// The members of a lead as one run saw them (its version of that run; the latest when $run_id is null).
MATCH (l:Lead {lead_id: $lead_id})-[:HAS_VERSION]->(v:LeadVersion)
WHERE ($run_id IS NULL AND v.latest) OR v.run_id = $run_id
RETURN v.run_id AS run_id, v.seq AS seq, v.members AS members, v.added AS added, v.dropped AS dropped
