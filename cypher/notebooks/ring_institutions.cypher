// Notebook 01: the institutions where a lead's persons settled, with how much of
// each institution's business came from the lead's persons.
// $lead_id
// Scope: $districts (the caller's; null = whole city), $referred_only (police
// liaison): a lead outside them gives no rows (as cypher/app/lead_queue.cypher).
MATCH (l:Lead {lead_id: $lead_id})
WHERE ($districts IS NULL
       OR any(sd IN [(l)-[:INCLUDES]->(sm) WHERE sm:Person OR sm:Institution | sm.district]
                   + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(si:Institution) | si.district]
              WHERE sd IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
MATCH (l)-[:INCLUDES]->(p:Person)
MATCH (v:Visit)-[:FOR_PERSON]->(p)
MATCH (v)-[:AT]->(i:Institution)
WITH l, i, count(v) AS n_visits, count(DISTINCT p) AS n_persons,
     sum(coalesce(v.total_amount, 0.0)) AS amount, sum(coalesce(v.fund_paid, 0.0)) AS fund_paid
WITH l, i, n_visits, n_persons, amount, fund_paid, COUNT { (:Visit)-[:AT]->(i) } AS all_visits
RETURN i.institution_id AS institution_id,
       i.name AS name,
       i.kind AS kind,
       i.district AS district,
       EXISTS { (l)-[:INCLUDES]->(i) } AS is_member,
       n_persons,
       n_visits,
       amount,
       fund_paid,
       toFloat(n_visits) / CASE WHEN all_visits = 0 THEN 1 ELSE all_visits END AS share_of_institution_visits,
       i.risk_score AS risk_score
ORDER BY is_member DESC, amount DESC, institution_id
