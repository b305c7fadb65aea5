-- An example of the SQL library's form (graph/engine.py's doctest): persons with at least
-- $min_visits settlements.
SELECT person_id, count(*) AS n
FROM visits
GROUP BY person_id
HAVING count(*) >= $min_visits
ORDER BY person_id
