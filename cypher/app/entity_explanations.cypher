// The learned models' explanations of one entity's score ($entity_type, $entity_id).
MATCH (x:ModelExplanation {entity_type: $entity_type, entity_id: $entity_id})
RETURN x.model AS model, x.method AS method, x.score AS score, x.features AS features,
       x.neighbours AS neighbours, x.details AS details, x.run_id AS run_id
ORDER BY x.model
