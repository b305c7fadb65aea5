-- Settlements and distinct persons per institution.
SELECT institution_id, count(*) AS n_visits, count(DISTINCT person_id) AS n_persons
FROM visits GROUP BY institution_id
