// Pin a note to a node of a lead's graph (Ring explorer): who, when, the text.
MATCH (l:Lead {lead_id: $lead_id})
CREATE (l)-[:HAS_NOTE]->(n:NodeNote {note_id: $note_id, node_key: $node_key, text: $text,
                                     user: $user, at: localdatetime($at)})
RETURN n.note_id AS note_id
