// Save a view of a lead's graph (Ring explorer) on the lead: name, who, when,
// and the view's state as JSON (month, node budget, expanded nodes, path).
MATCH (l:Lead {lead_id: $lead_id})
MERGE (l)-[:HAS_VIEW]->(v:SavedView {view_id: $view_id})
SET v.name = $name, v.state = $state, v.user = $user, v.at = localdatetime($at)
RETURN v.view_id AS view_id
