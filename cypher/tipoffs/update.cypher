// A step on a tip-off, recorded with who and when (TipoffEvent): its state, the assignee, a note,
// the reply deadline (set on acceptance), the verified amount and the reward computed from it.
// Returns the new state (nothing when the tip-off is unknown).
MATCH (t:Tipoff {tipoff_id: $tipoff_id})
SET t.status = $status, t.assignee = coalesce($assignee, t.assignee), t.reply_by = coalesce(date($reply_by), t.reply_by),
    t.verified_amount = coalesce($verified_amount, t.verified_amount), t.reward = coalesce($reward, t.reward),
    t.updated_at = localdatetime($at)
CREATE (t)-[:HAS_EVENT]->(:TipoffEvent {event_id: $event_id, at: localdatetime($at), user: $user, role: $role,
                                         from_status: $from_status, to_status: $status, assignee: $assignee,
                                         note: $note, verified_amount: $verified_amount, reward: $reward})
RETURN t.tipoff_id AS tipoff_id, t.status AS status, t.assignee AS assignee, toString(t.reply_by) AS reply_by,
       t.verified_amount AS verified_amount, t.reward AS reward
