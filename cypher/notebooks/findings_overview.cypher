// Notebook 02: what a detection run left in Neo4j for the app, in one row:
// active leads per scheme, rule hits, and entities at or above a risk score.
// $min_risk: risk score counted as flagged.
CALL () {
  MATCH (l:Lead) WHERE coalesce(l.active, true)
  RETURN count(l) AS n_leads, sum(coalesce(l.amount_at_risk, 0.0)) AS amount_at_risk
}
CALL () {
  MATCH (l:Lead) WHERE coalesce(l.active, true)
  WITH l.scheme AS scheme, count(*) AS n ORDER BY scheme
  RETURN collect({scheme: scheme, leads: n}) AS leads_by_scheme
}
CALL () {
  MATCH (h:RuleHit) RETURN count(h) AS n_rule_hits
}
CALL () {
  MATCH (e) WHERE (e:Person OR e:Physician OR e:Institution) AND e.risk_score >= $min_risk
  RETURN count(e) AS n_flagged
}
RETURN n_leads, amount_at_risk, leads_by_scheme, n_rule_hits, n_flagged
