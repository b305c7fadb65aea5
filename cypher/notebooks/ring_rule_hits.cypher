// Notebook 01: ordinary rule hits against a lead's members or on its persons'
// visits, summarised per rule (how often, on how many visits and entities, how
// much money) with a few example evidence texts.
// $lead_id, $examples: evidence texts kept per rule.
// Scope: $districts (the caller's; null = whole city), $referred_only (police
// liaison): a lead outside them gives no rows (as cypher/app/lead_queue.cypher).
MATCH (l:Lead {lead_id: $lead_id})
WHERE ($districts IS NULL
       OR any(sd IN [(l)-[:INCLUDES]->(sm) WHERE sm:Person OR sm:Institution | sm.district]
                   + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(si:Institution) | si.district]
              WHERE sd IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
CALL (l) {
  MATCH (l)-[:INCLUDES]->(m)<-[:AGAINST]-(h:RuleHit)
  RETURN h
  UNION
  MATCH (l)-[:INCLUDES]->(:Person)<-[:FOR_PERSON]-(:Visit)<-[:ON_VISIT]-(h:RuleHit)
  RETURN h
}
OPTIONAL MATCH (h)-[:ON_VISIT]->(v:Visit)
RETURN h.rule_id AS rule_id,
       h.rule_name AS rule_name,
       h.severity AS severity,
       count(h) AS n_hits,
       count(DISTINCT v) AS n_visits,
       count(DISTINCT h.entity_type + ':' + h.entity_id) AS n_entities,
       sum(coalesce(h.amount_at_risk, 0.0)) AS amount_at_risk,
       collect(h.evidence)[0..$examples] AS examples
ORDER BY amount_at_risk DESC, n_hits DESC, rule_id
