// A random-inspection draw (双随机抽查批次): its record (seed, parameters, both lists and their
// hashes, the result hash; the whole record as JSON so anyone can re-draw from it). The same draw
// (same seed, lists and parameters: the same id) written twice changes nothing.
// $draw: {draw_id, title, seed, method, numpy, params, institutions_sha256, inspectors_sha256,
//         result_sha256, n, n_institutions_listed, n_inspectors_listed, record}; $user, $role, $now.
MERGE (d:InspectionDraw {draw_id: $draw.draw_id})
ON CREATE SET d.title = $draw.title, d.seed = $draw.seed, d.method = $draw.method, d.numpy = $draw.numpy,
              d.params = $draw.params, d.institutions_sha256 = $draw.institutions_sha256,
              d.inspectors_sha256 = $draw.inspectors_sha256, d.result_sha256 = $draw.result_sha256,
              d.n = $draw.n, d.n_institutions_listed = $draw.n_institutions_listed,
              d.n_inspectors_listed = $draw.n_inspectors_listed, d.record = $draw.record,
              d.drawn_by = $user, d.drawn_role = $role, d.drawn_at = localdatetime($now), d.new = true
ON MATCH SET d.new = false
RETURN d.draw_id AS draw_id, d.new AS created, toString(d.drawn_at) AS drawn_at
