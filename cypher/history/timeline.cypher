// A lead's history: every version (one per detection run) and every disposal event, in time order.
MATCH (l:Lead {lead_id: $lead_id})
CALL (l) {
  MATCH (l)-[:HAS_VERSION]->(v:LeadVersion)
  RETURN toString(v.at) AS at, 'version' AS kind, v.seq AS seq, v.run_id AS run_id, v.state AS state,
         v.score AS score, v.amount_at_risk AS amount_at_risk, v.rank AS rank, v.n_members AS n_members,
         v.added AS added, v.dropped AS dropped, v.merged_from AS merged_from, v.split_from AS split_from,
         v.merged_into AS merged_into, v.split_into AS split_into,
         null AS action, null AS user, null AS from_status, null AS to_status, null AS note
  UNION ALL
  MATCH (l)-[:HAS_EVENT]->(e:LeadEvent)
  RETURN toString(e.at) AS at, 'event' AS kind, null AS seq, null AS run_id, null AS state,
         null AS score, null AS amount_at_risk, null AS rank, null AS n_members,
         null AS added, null AS dropped, null AS merged_from, null AS split_from,
         null AS merged_into, null AS split_into,
         e.action AS action, e.user AS user, e.from_status AS from_status, e.to_status AS to_status, e.note AS note
}
RETURN at, kind, seq, run_id, state, score, amount_at_risk, rank, n_members, added, dropped, merged_from,
       split_from, merged_into, split_into, action, user, from_status, to_status, note
ORDER BY at, kind DESC, seq
