// Where a lead's members came from: DERIVED_FROM each earlier lead that gave it members
// (kept: the same id; merged: several gave; split: one gave to several), with how many.
// $rows: {lead_id, from_id, relation, shared}
UNWIND $rows AS row
MATCH (n:Lead {lead_id: row.lead_id}), (o:Lead {lead_id: row.from_id})
MERGE (n)-[r:DERIVED_FROM {run_id: $run_id}]->(o)
SET r.relation = row.relation, r.shared = row.shared
