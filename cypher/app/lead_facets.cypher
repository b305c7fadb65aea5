// Values the lead filters offer: one row per (scheme, status) with counts.
// Scope: $districts (null = whole city), $referred_only.
MATCH (l:Lead)
WITH l, [(l)-[:INCLUDES]->(m) WHERE m:Institution OR m:Person | m.district]
        + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(pi:Institution) | pi.district] AS districts
WHERE ($districts IS NULL OR any(d IN districts WHERE d IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
RETURN l.scheme AS scheme, coalesce(l.status, 'new') AS status,
       count(*) AS n_leads, sum(coalesce(l.amount_at_risk, 0.0)) AS amount_at_risk
ORDER BY scheme, status
