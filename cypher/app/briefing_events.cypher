// Disposal events per month for the leader's view: leads closed (by outcome),
// referred to the police, and money recovered (the increase each event
// recorded over the lead's previous figure). Scope as briefing_leads.
MATCH (l:Lead)
WITH l, [(l)-[:INCLUDES]->(m) WHERE m:Institution OR m:Person | m.district]
        + [(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(pi:Institution) | pi.district] AS districts
WHERE ($districts IS NULL OR any(d IN districts WHERE d IN $districts))
  AND (NOT $referred_only OR coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false))
MATCH (l)-[:HAS_EVENT]->(e:LeadEvent)
WHERE e.action <> 'detected'
WITH l, e ORDER BY e.at
WITH l, collect(e) AS evs
UNWIND range(0, size(evs) - 1) AS i
WITH evs[i] AS e, CASE WHEN i = 0 THEN 0.0 ELSE coalesce(evs[i - 1].recovered, 0.0) END AS before
RETURN substring(toString(e.at), 0, 7) AS month,
       sum(CASE WHEN e.to_status = '结案' AND e.from_status <> '结案' THEN 1 ELSE 0 END) AS closed,
       sum(CASE WHEN e.to_status = '结案' AND e.outcome = 'confirmed' AND e.from_status <> '结案' THEN 1 ELSE 0 END)
         AS confirmed,
       sum(CASE WHEN e.to_status = '移送公安' AND e.from_status <> '移送公安' THEN 1 ELSE 0 END) AS referred,
       sum(CASE WHEN coalesce(e.recovered, 0.0) > before THEN coalesce(e.recovered, 0.0) - before ELSE 0.0 END)
         AS recovered
ORDER BY month
