-- 人证比对, step 2: for captures whose claimed person's enrolment did not match (distance over
-- $threshold, or not enrolled), the nearest enrolment among persons registered with the
-- claimed person in family_links (either direction, any relation, proxies included): a
-- caregiver at the settlement window is a relative, not a stranger.
-- The capture ids to look at come as the frame `todo` (capture_id).
WITH links AS (
    SELECT person_id, related_person_id FROM family_links
    WHERE person_id IS NOT NULL AND related_person_id IS NOT NULL AND person_id <> related_person_id
    UNION
    SELECT related_person_id, person_id FROM family_links
    WHERE person_id IS NOT NULL AND related_person_id IS NOT NULL AND person_id <> related_person_id
), enr AS (
    SELECT person_id, CAST(encoding AS FLOAT[128]) AS enc
    FROM face_enrollments
    WHERE encoding IS NOT NULL AND len(encoding) = 128
), cap AS (
    SELECT capture_id, claimed_person_id, CAST(encoding AS FLOAT[128]) AS enc
    FROM face_captures
    WHERE capture_id IN (SELECT capture_id FROM todo) AND encoding IS NOT NULL AND len(encoding) = 128
), d AS (
    SELECT c.capture_id, l.related_person_id, min(array_distance(c.enc, e.enc)) AS related_distance
    FROM cap c
    JOIN links l ON l.person_id = c.claimed_person_id
    JOIN enr e ON e.person_id = l.related_person_id
    GROUP BY ALL
)
SELECT capture_id, related_person_id, related_distance
FROM d
QUALIFY row_number() OVER (PARTITION BY capture_id ORDER BY related_distance, related_person_id) = 1
