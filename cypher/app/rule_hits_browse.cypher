// Browse ordinary rule hits with filters, largest money at risk first.
// $rule_ids, $severities: lists (empty = any); $entity_type, $entity_id,
// $month_from, $month_to ('YYYY-MM'): string or null; $min_amount; paging.
// Scope: $districts (the entity's; null = whole city).
MATCH (h:RuleHit)
WHERE (size($rule_ids) = 0 OR h.rule_id IN $rule_ids)
  AND (size($severities) = 0 OR h.severity IN $severities)
  AND coalesce(h.amount_at_risk, 0.0) >= $min_amount
MATCH (h)-[:AGAINST]->(e)
WITH h, e, CASE WHEN e:Person THEN 'person' WHEN e:Physician THEN 'physician'
                WHEN e:Institution THEN 'institution' END AS entity_type,
     coalesce(e.person_id, e.physician_id, e.institution_id) AS entity_id
WHERE ($entity_type IS NULL OR entity_type = $entity_type)
  AND ($districts IS NULL
       OR coalesce(e.district, [(e)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) IN $districts)
  AND ($entity_id IS NULL OR entity_id = $entity_id)
OPTIONAL MATCH (h)-[:ON_VISIT]->(v:Visit)
WITH h, e, entity_type, entity_id, v
WHERE ($month_from IS NULL OR v.month >= $month_from)
  AND ($month_to IS NULL OR v.month <= $month_to)
RETURN h.hit_id AS hit_id, h.rule_id AS rule_id, h.rule_name AS rule_name,
       h.category AS category, h.severity AS severity, h.amount_at_risk AS amount_at_risk,
       entity_type, entity_id, e.name AS name, e.district AS district, v.visit_id AS visit_id, v.month AS month,
       h.evidence AS evidence
ORDER BY coalesce(h.amount_at_risk, 0.0) DESC, hit_id
SKIP $skip LIMIT $limit
