// The review queue of a run (建议优先复核, active learning): one ReviewSuggestion per suggested lead,
// SUGGESTS the Lead. The key is the lead, so a re-run of the same run changes nothing; suggestions
// of earlier runs are removed by feedback/review_retire.
// $rows: {lead_id, review_rank, uncertainty, amount_weight, novelty, priority, gain, reason}; $run_id, $now.
UNWIND $rows AS row
MATCH (l:Lead {lead_id: row.lead_id})
MERGE (q:ReviewSuggestion {lead_id: row.lead_id})
SET q.review_rank = row.review_rank, q.uncertainty = row.uncertainty, q.amount_weight = row.amount_weight,
    q.novelty = row.novelty, q.priority = row.priority, q.gain = row.gain, q.reason = row.reason,
    q.run_id = $run_id, q.at = localdatetime($now)
MERGE (q)-[:SUGGESTS]->(l)
