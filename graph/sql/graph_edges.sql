-- The entity graph of the distributed graph step (graph/spark_graph.py): undirected edges between
-- typed node ids ('person:P1', 'institution:H1', 'physician:D1'), one row per pair, a < b, with
-- the kind of link: a person's visit to an institution and to a physician, and a person whose
-- account paid for another's settlement (家庭共济). Registered family links:
-- graph_edges_family.sql; face identity--credential links come from face verification.
SELECT least(a, b) AS a, greatest(a, b) AS b, min(kind) AS kind
FROM (
    SELECT 'person:' || person_id AS a, 'institution:' || institution_id AS b, 'visit' AS kind
    FROM visits WHERE person_id IS NOT NULL AND institution_id IS NOT NULL
    UNION ALL
    SELECT 'person:' || person_id AS a, 'physician:' || physician_id AS b, 'physician' AS kind
    FROM visits WHERE person_id IS NOT NULL AND physician_id IS NOT NULL
    UNION ALL
    SELECT 'person:' || person_id AS a, 'person:' || payer_person_id AS b, 'payer' AS kind
    FROM visits WHERE person_id IS NOT NULL AND payer_person_id IS NOT NULL AND payer_person_id <> person_id
) e
GROUP BY least(a, b), greatest(a, b)
