// A lead's history (线索沿革): one version per detection run -- score, amount, members added and
// dropped, the leads it was merged from / into and split from / into -- newest first.
MATCH (:Lead {lead_id: $lead_id})-[:HAS_VERSION]->(v:LeadVersion)
RETURN v.seq AS seq, toString(v.at) AS at, v.run_id AS run_id, v.state AS version_state, v.score AS score,
       v.amount_at_risk AS amount_at_risk, v.rank AS rank, v.n_members AS n_members, v.added AS added,
       v.dropped AS dropped, v.merged_from AS merged_from, v.split_from AS split_from,
       v.merged_into AS merged_into, v.split_into AS split_into
ORDER BY v.seq DESC
