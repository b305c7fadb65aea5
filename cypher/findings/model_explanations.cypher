// A learned model's explanation of one entity's score, linked to the entity.
// $rows: {key, model, entity_type, entity_id, score, method, features, neighbours, details}
// (features, neighbours and details are JSON text); $run_id.
UNWIND $rows AS row
CALL (row) {
  MATCH (n:Person {person_id: row.entity_id}) WHERE row.entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: row.entity_id}) WHERE row.entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: row.entity_id}) WHERE row.entity_type = 'institution' RETURN n
}
MERGE (x:ModelExplanation {key: row.key})
SET x.model = row.model, x.entity_type = row.entity_type, x.entity_id = row.entity_id,
    x.score = row.score, x.method = row.method, x.features = row.features,
    x.neighbours = row.neighbours, x.details = row.details, x.run_id = $run_id
MERGE (x)-[:EXPLAINS]->(n)
