// Notebook 02: what a detection run left in Neo4j for the app, in one row:
// active leads per scheme, rule hits, and entities at or above a risk score.
// $min_risk: risk score counted as flagged.
// Scope: $districts (null = whole city), $referred_only (police liaison): the
// leads the caller may read (as cypher/app/lead_queue.cypher), the rule hits
// against entities in those districts (as cypher/app/rule_hit_facets.cypher),
// the entities in them.
CALL () {
  MATCH (l:Lead) WHERE coalesce(l.active, true)
    AND ($districts IS NULL
         OR any(sd IN [(l)-[:INCLUDES]->(sm) WHERE sm:Person OR sm:Institution | sm.district]
                     + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(si:Institution) | si.district]
                WHERE sd IN $districts))
    AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
  RETURN collect(l) AS leads
}
CALL (leads) {
  UNWIND leads AS l
  RETURN count(l) AS n_leads, sum(coalesce(l.amount_at_risk, 0.0)) AS amount_at_risk
}
CALL (leads) {
  UNWIND leads AS l
  WITH l.scheme AS scheme, count(*) AS n ORDER BY scheme
  RETURN collect({scheme: scheme, leads: n}) AS leads_by_scheme
}
CALL () {
  MATCH (h:RuleHit)
  WHERE $districts IS NULL OR EXISTS {
    MATCH (h)-[:AGAINST]->(e)
    WHERE coalesce(e.district, [(e)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) IN $districts }
  RETURN count(h) AS n_rule_hits
}
CALL () {
  MATCH (e) WHERE (e:Person OR e:Physician OR e:Institution) AND e.risk_score >= $min_risk
    AND ($districts IS NULL
         OR coalesce(e.district, [(e)-[:PRACTISES_AT]->(i:Institution) | i.district][0]) IN $districts)
  RETURN count(e) AS n_flagged
}
RETURN n_leads, amount_at_risk, leads_by_scheme, n_rule_hits, n_flagged
