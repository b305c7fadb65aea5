// The tip-off ledger, newest first: deadlines and whether they are overdue on $today, the
// entities named and matched, the reporter fields (masked by the data layer for other roles).
// $status: string or null; $today: 'YYYY-MM-DD'; $skip, $limit.
MATCH (t:Tipoff)
WHERE $status IS NULL OR t.status = $status
RETURN t.tipoff_id AS tipoff_id, toString(t.received_on) AS received_on, t.channel AS channel,
       t.status AS tipoff_status, t.content AS content, t.named AS named, t.unmatched AS unmatched,
       COUNT { (t)-[:NAMES]->() } AS n_matched, t.assignee AS assignee,
       toString(t.accept_by) AS accept_by, toString(t.reply_by) AS reply_by,
       (t.status = 'received' AND t.accept_by < date($today)) OR
       (t.status IN ['accepted', 'investigating'] AND t.reply_by < date($today)) AS overdue,
       t.verified_amount AS verified_amount, t.reward AS reward, t.anonymous AS anonymous,
       t.reporter_name AS reporter_name, t.reporter_phone AS reporter_phone,
       t.reporter_id_number AS reporter_id_number
ORDER BY t.received_on DESC, t.tipoff_id
SKIP $skip LIMIT $limit
