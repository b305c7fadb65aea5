-- 人证比对, step 1: every face capture, in table order (_row), with the distance from its encoding
-- to the nearest enrolment of the person whose credential was presented and that enrolment's
-- position among the usable enrolments (erow, table order); NULL when there is no claim, no
-- usable encoding, or the person is not enrolled. Encodings never leave the engine.
WITH enr AS (
    SELECT person_id, CAST(encoding AS FLOAT[128]) AS enc, row_number() OVER () - 1 AS erow
    FROM face_enrollments
    WHERE encoding IS NOT NULL AND len(encoding) = 128
), cap AS (
    SELECT row_number() OVER () - 1 AS _row, capture_id, institution_id, location, capture_time, visit_id,
           claimed_person_id, encoding IS NOT NULL AND len(encoding) = 128 AS has_encoding,
           CASE WHEN encoding IS NOT NULL AND len(encoding) = 128 THEN CAST(encoding AS FLOAT[128]) END AS enc
    FROM face_captures
), d AS (
    SELECT c._row, min(struct_pack(d := array_distance(c.enc, e.enc), e := e.erow)) AS best
    FROM cap c JOIN enr e ON e.person_id = c.claimed_person_id
    WHERE c.enc IS NOT NULL
    GROUP BY c._row
)
SELECT c._row, c.capture_id, c.institution_id, c.location, c.capture_time, c.visit_id, c.claimed_person_id,
       c.has_encoding, d.best.d AS distance, d.best.e AS erow
FROM cap c LEFT JOIN d USING (_row)
ORDER BY c._row
