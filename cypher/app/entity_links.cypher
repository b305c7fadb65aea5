// An entity's non-settlement ties: family/proxy bindings, where a physician
// practises, face identities seen presenting a person's credential (or a
// person's face presenting others'), and leads. referred_member: the other
// person (for a face: the person it is enrolled as) belongs to a lead referred
// to the police (the liaison's scope; the data layer blanks the others' personal
// data and keeps only the leads the caller may read).
CALL () {
  MATCH (n:Person {person_id: $entity_id}) WHERE $entity_type = 'person' RETURN n
  UNION
  MATCH (n:Physician {physician_id: $entity_id}) WHERE $entity_type = 'physician' RETURN n
  UNION
  MATCH (n:Institution {institution_id: $entity_id}) WHERE $entity_type = 'institution' RETURN n
}
CALL (n) {
  MATCH (n)-[r:FAMILY]-(x:Person)
  RETURN 'family' AS relation, 'person' AS other_type, x.person_id AS other_id, x.name AS other_name, x.district AS other_district,
         r.relation AS detail, 1 AS n_events, EXISTS { (x)<-[:INCLUDES]-(rl:Lead) WHERE coalesce(rl.status, 'new') = '移送公安' OR coalesce(rl.referred, false) } AS referred_member
  UNION ALL
  MATCH (n)-[:PRACTISES_AT]-(x)
  RETURN 'practises_at' AS relation,
         CASE WHEN x:Physician THEN 'physician' ELSE 'institution' END AS other_type,
         coalesce(x.physician_id, x.institution_id) AS other_id, x.name AS other_name,
         x.district AS other_district, null AS detail, 1 AS n_events,
         EXISTS { (x)<-[:INCLUDES]-(rl:Lead) WHERE coalesce(rl.status, 'new') = '移送公安' OR coalesce(rl.referred, false) } AS referred_member
  UNION ALL
  MATCH (n)<-[:CLAIMED]-(c:FaceCapture)-[:OF_FACE]->(f:FaceIdentity)
  OPTIONAL MATCH (f)-[:ENROLLED_AS]->(q:Person)
  WITH f, q, count(c) AS k, sum(CASE WHEN c.verdict = 'mismatch' THEN 1 ELSE 0 END) AS bad
  RETURN 'face_presenting_credential' AS relation, 'face' AS other_type, f.face_id AS other_id,
         q.name AS other_name, q.district AS other_district,
         'enrolled as ' + coalesce(q.person_id, 'nobody') + '; mismatches ' + toString(bad) AS detail,
         k AS n_events, q IS NOT NULL AND EXISTS { (q)<-[:INCLUDES]-(rl:Lead) WHERE coalesce(rl.status, 'new') = '移送公安' OR coalesce(rl.referred, false) } AS referred_member
  UNION ALL
  MATCH (n)<-[:ENROLLED_AS]-(f:FaceIdentity)<-[:OF_FACE]-(c:FaceCapture)-[:CLAIMED]->(x:Person)
  WHERE x <> n
  RETURN 'own_face_on_credential_of' AS relation, 'person' AS other_type, x.person_id AS other_id,
         x.name AS other_name, x.district AS other_district, f.face_id AS detail, count(c) AS n_events,
         EXISTS { (x)<-[:INCLUDES]-(rl:Lead) WHERE coalesce(rl.status, 'new') = '移送公安' OR coalesce(rl.referred, false) } AS referred_member
  UNION ALL
  MATCH (n)<-[:INCLUDES]-(l:Lead)
  RETURN 'lead' AS relation, 'lead' AS other_type, l.lead_id AS other_id, null AS other_name, null AS other_district,
         l.scheme + ' / ' + coalesce(l.status, 'new') AS detail, 1 AS n_events,
         coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false) AS referred_member
}
RETURN relation, other_type, other_id, other_name, other_district, detail, n_events, referred_member
ORDER BY relation, n_events DESC, other_id
LIMIT $limit
