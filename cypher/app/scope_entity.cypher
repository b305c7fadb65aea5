// Whether an entity is in a caller's scope: its district (a physician's is
// their institution's) and whether it belongs to a lead referred to the police.
CALL () {
  MATCH (n:Person {person_id: $entity_id}) WHERE $entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
RETURN [n.district] + [(n)-[:PRACTISES_AT]->(i:Institution) | i.district] AS districts,
       EXISTS { (n)<-[:INCLUDES]-(l:Lead) WHERE coalesce(l.status, 'new') = '移送公安'
                OR coalesce(l.referred, false) } AS referred
