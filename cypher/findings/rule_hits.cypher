// Rule hits (one row per hit) linked to their visit and the entity held responsible.
// $rows: {hit_id, rule_id, rule_name, category, severity, amount_at_risk, evidence,
//         violation_class, visit_id, entity_type, entity_id}; $run_id marks this run.
UNWIND $rows AS row
MERGE (h:RuleHit {hit_id: row.hit_id})
SET h.rule_id = row.rule_id, h.rule_name = row.rule_name, h.category = row.category,
    h.severity = row.severity, h.amount_at_risk = row.amount_at_risk, h.evidence = row.evidence,
    h.violation_class = row.violation_class, h.entity_type = row.entity_type,
    h.entity_id = row.entity_id, h.visit_id = row.visit_id, h.run_id = $run_id
WITH h, row
OPTIONAL MATCH (v:Visit {visit_id: row.visit_id})
FOREACH (_ IN CASE WHEN v IS NULL THEN [] ELSE [1] END | MERGE (h)-[:ON_VISIT]->(v))
WITH h, row
OPTIONAL MATCH (p:Person {person_id: row.entity_id}) WHERE row.entity_type = 'person'
OPTIONAL MATCH (d:Physician {physician_id: row.entity_id}) WHERE row.entity_type = 'physician'
OPTIONAL MATCH (i:Institution {institution_id: row.entity_id}) WHERE row.entity_type = 'institution'
WITH h, coalesce(p, d, i) AS e
FOREACH (_ IN CASE WHEN e IS NULL THEN [] ELSE [1] END | MERGE (h)-[:AGAINST]->(e))
