// One row per lead for the leadership briefing: scheme, disposal state, money
// at risk and recovered, the district (the member institutions' district, else
// the persons' most common one) and the month the ring was first active (its
// persons' first settlement; the detection date when it has none).
// Its deadline and assignee (the leader's overdue leads).
// Scope: $districts (null = whole city), $referred_only.
MATCH (l:Lead)
WITH l, [(l)-[:INCLUDES]->(m) WHERE m:Institution OR m:Person | m.district]
        + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(pi:Institution) | pi.district] AS districts
WHERE ($districts IS NULL OR any(d IN districts WHERE d IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
WITH l
CALL (l) {
  OPTIONAL MATCH (l)-[:INCLUDES]->(m)
  WHERE (m:Institution OR m:Person) AND m.district IS NOT NULL
  WITH m.district AS d, max(CASE WHEN m:Institution THEN 1 ELSE 0 END) AS inst, count(m) AS c
  ORDER BY inst DESC, c DESC, d
  RETURN head(collect(d)) AS district
}
CALL (l) {
  OPTIONAL MATCH (l)-[:INCLUDES]->(:Person)<-[:FOR_PERSON]-(v:Visit)
  RETURN min(v.month) AS first_month, max(v.month) AS last_month
}
RETURN l.lead_id AS lead_id, l.scheme AS scheme, l.score AS score, l.rank AS rank,
       coalesce(l.status, 'new') AS status, l.outcome AS outcome,
       toString(l.deadline) AS deadline, l.assignee AS assignee,
       coalesce(l.amount_at_risk, 0.0) AS amount_at_risk,
       coalesce(l.recovered, 0.0) AS recovered,
       coalesce(district, 'unknown') AS district,
       coalesce(first_month, substring(toString(l.first_seen), 0, 7)) AS month,
       last_month,
       COUNT { (l)-[:INCLUDES]->() } AS n_members
ORDER BY coalesce(l.rank, 2147483647), lead_id
