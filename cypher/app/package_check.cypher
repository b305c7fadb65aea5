// The evidence packages recorded for a manifest hash (any lead).
MATCH (l:Lead)-[:HAS_PACKAGE]->(p:EvidencePackage {manifest_sha256: $manifest_sha256})
RETURN l.lead_id AS lead_id, p.manifest_sha256 AS manifest_sha256, toString(p.built_at) AS built_at,
       p.user AS user, p.role AS role, p.masked AS masked, p.n_files AS n_files
