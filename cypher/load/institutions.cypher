// One row per institution; MERGE on the key so a re-run changes nothing.
UNWIND $rows AS r
MERGE (i:Institution {institution_id: r.institution_id})
SET i.name = r.name, i.kind = r.kind, i.level = r.level, i.ownership = r.ownership,
    i.district = r.district, i.has_face_terminal = r.has_face_terminal
