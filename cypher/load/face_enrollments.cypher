// The enrolment vector stays in the dataset; the graph records that one exists.
UNWIND $rows AS r
MATCH (p:Person {person_id: r.person_id})
SET p.has_enrollment = true, p.enrollment_image = r.image_path
