// Fused risk score and its reasons on persons, physicians and institutions.
// $rows: {entity_type, entity_id, score, reasons}
UNWIND $rows AS row
OPTIONAL MATCH (p:Person {person_id: row.entity_id}) WHERE row.entity_type = 'person'
OPTIONAL MATCH (d:Physician {physician_id: row.entity_id}) WHERE row.entity_type = 'physician'
OPTIONAL MATCH (i:Institution {institution_id: row.entity_id}) WHERE row.entity_type = 'institution'
WITH row, coalesce(p, d, i) AS e
WHERE e IS NOT NULL
SET e.risk_score = row.score, e.risk_reasons = row.reasons
