// One draw's full record (JSON) for re-drawing and checking. $draw_id.
MATCH (d:InspectionDraw {draw_id: $draw_id})
RETURN d.record AS record, d.drawn_by AS drawn_by, toString(d.drawn_at) AS drawn_at, d.title AS title
