// One version of each lead per detection run (线索版本): its score, amount, rank and members as this
// run saw them, the members added and dropped since the lead's previous version, and the leads it
// was merged from, split from, merged into or split into. Chained by PREVIOUS to the version
// before; re-running the same run (a crash resumed) changes nothing: the key is lead and run, and the
// change against the version before (state, added, dropped, merges, splits) is set once, when the
// version is made -- a re-run compares with its own first pass and would find no change.
// $rows: {key, lead_id, state, scheme, score, amount_at_risk, rank, members, n_members, added, dropped,
//         merged_from, split_from, merged_into, split_into}; $run_id, $now.
UNWIND $rows AS row
MATCH (l:Lead {lead_id: row.lead_id})
OPTIONAL MATCH (l)-[:HAS_VERSION]->(pv:LeadVersion {latest: true})
WITH l, row, pv
MERGE (v:LeadVersion {key: row.key})
ON CREATE SET v.seq = coalesce(pv.seq, 0) + 1, v.at = localdatetime($now), v.state = row.state,
    v.added = row.added, v.dropped = row.dropped, v.merged_from = row.merged_from, v.split_from = row.split_from,
    v.merged_into = row.merged_into, v.split_into = row.split_into
SET v.lead_id = row.lead_id, v.run_id = $run_id, v.scheme = row.scheme,
    v.score = row.score, v.amount_at_risk = row.amount_at_risk, v.rank = row.rank, v.members = row.members,
    v.n_members = row.n_members, v.latest = true
MERGE (l)-[:HAS_VERSION]->(v)
WITH v, pv
WHERE pv IS NOT NULL AND pv <> v
SET pv.latest = false
MERGE (v)-[:PREVIOUS]->(pv)
