// Record an evidence package on its lead when it is built: the SHA-256 of its
// manifest, who built it, when, and whether personal data was masked, so a
// later copy can be checked against the database (package_check).
MATCH (l:Lead {lead_id: $lead_id})
MERGE (l)-[:HAS_PACKAGE]->(p:EvidencePackage {manifest_sha256: $manifest_sha256})
ON CREATE SET p.built_at = localdatetime($at), p.user = $user, p.role = $role, p.masked = $masked,
              p.n_files = $n_files
RETURN p.manifest_sha256 AS manifest_sha256, toString(p.built_at) AS built_at
