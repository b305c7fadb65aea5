// The shortest path between two entities (plain Cypher shortestPath; no
// plugins) over settlements, family, practice and face ties, at most
// $max_hops relationships (a visit between two parties counts two).
// Returns one row per node on the path, in order; referred_member: the node
// belongs to a lead referred to the police (the liaison's scope).
CALL () {
  MATCH (n:Person {person_id: $a_id}) WHERE $a_type = 'person' RETURN n AS a
  UNION
  MATCH (n:Physician {physician_id: $a_id}) WHERE $a_type = 'physician' RETURN n AS a
  UNION
  MATCH (n:Institution {institution_id: $a_id}) WHERE $a_type = 'institution' RETURN n AS a
}
CALL () {
  MATCH (n:Person {person_id: $b_id}) WHERE $b_type = 'person' RETURN n AS b
  UNION
  MATCH (n:Physician {physician_id: $b_id}) WHERE $b_type = 'physician' RETURN n AS b
  UNION
  MATCH (n:Institution {institution_id: $b_id}) WHERE $b_type = 'institution' RETURN n AS b
}
MATCH p = shortestPath((a)-[:FOR_PERSON|BY|AT|FAMILY|PRACTISES_AT|CLAIMED|OF_FACE|ENROLLED_AS*..12]-(b))
WHERE length(p) <= $max_hops
UNWIND range(0, size(nodes(p)) - 1) AS i
WITH p, i, nodes(p)[i] AS x
RETURN i AS step,
       CASE WHEN x:Person THEN 'person' WHEN x:Physician THEN 'physician' WHEN x:Institution THEN 'institution'
            WHEN x:Visit THEN 'visit' WHEN x:FaceCapture THEN 'capture' WHEN x:FaceIdentity THEN 'face'
            ELSE 'other' END AS entity_type,
       coalesce(x.person_id, x.physician_id, x.institution_id, x.visit_id, x.capture_id, x.face_id) AS entity_id,
       CASE WHEN x:Person OR x:Physician OR x:Institution THEN x.name END AS name,
       coalesce(x.district, [(x)-[:PRACTISES_AT]->(pi:Institution) | pi.district][0]) AS district,
       CASE WHEN i = 0 THEN null ELSE type(relationships(p)[i - 1]) END AS via,
       x.month AS month, x.total_amount AS amount,
       EXISTS { (x)<-[:INCLUDES]-(rl:Lead) WHERE coalesce(rl.status, 'new') = '移送公安' OR coalesce(rl.referred, false) } AS referred_member
ORDER BY step
