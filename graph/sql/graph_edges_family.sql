-- Registered family / proxy links (family_links) as undirected person--person edges of the
-- distributed graph step (see graph_edges.sql), a < b.
SELECT least(a, b) AS a, greatest(a, b) AS b, 'family' AS kind
FROM (
    SELECT 'person:' || person_id AS a, 'person:' || related_person_id AS b
    FROM family_links
    WHERE person_id IS NOT NULL AND related_person_id IS NOT NULL AND person_id <> related_person_id
) f
GROUP BY least(a, b), greatest(a, b)
