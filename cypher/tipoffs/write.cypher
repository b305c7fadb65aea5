// Tip-offs (举报线索) registered: one Tipoff per report (the id hashes date, channel, content and
// the entities named, so an import run twice changes nothing), NAMES each named entity found in
// the graph; named ids not found are kept in t.unmatched. The reporter's identity is stored here
// and shown only to the tip-off handling role (the data layer masks it for every other role).
// $rows: {tipoff_id, received_on, channel, content, named: [typed ids], anonymous, reporter_name,
//         reporter_phone, reporter_id_number, accept_by}; $user, $now.
UNWIND $rows AS row
MERGE (t:Tipoff {tipoff_id: row.tipoff_id})
ON CREATE SET t.received_on = date(row.received_on), t.channel = row.channel, t.content = row.content,
              t.named = row.named, t.anonymous = row.anonymous, t.reporter_name = row.reporter_name,
              t.reporter_phone = row.reporter_phone, t.reporter_id_number = row.reporter_id_number,
              t.accept_by = date(row.accept_by), t.status = 'received', t.registered_by = $user,
              t.registered_at = localdatetime($now)
WITH t, row
CALL (t, row) {
  UNWIND row.named AS m
  WITH m, split(m, ':')[0] AS typ, substring(m, size(split(m, ':')[0]) + 1) AS id
  OPTIONAL MATCH (p:Person {person_id: id}) WHERE typ = 'person'
  OPTIONAL MATCH (d:Physician {physician_id: id}) WHERE typ = 'physician'
  OPTIONAL MATCH (i:Institution {institution_id: id}) WHERE typ = 'institution'
  WITH m, coalesce(p, d, i) AS e
  FOREACH (_ IN CASE WHEN e IS NULL THEN [] ELSE [1] END | MERGE (t)-[:NAMES]->(e))
  RETURN collect(CASE WHEN e IS NULL THEN m END) AS unmatched
}
SET t.unmatched = unmatched
