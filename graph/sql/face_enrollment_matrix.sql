-- The usable enrolments (a 128-number encoding) in table order: person and encoding.
SELECT person_id, encoding
FROM face_enrollments
WHERE encoding IS NOT NULL AND len(encoding) = 128
