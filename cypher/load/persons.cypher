UNWIND $rows AS r
MERGE (p:Person {person_id: r.person_id})
SET p.sex = r.sex, p.birth_date = date(r.birth_date), p.name = r.name, p.id_number = r.id_number,
    p.district = r.district, p.insurance_type = r.insurance_type,
    p.chronic_conditions = r.chronic_conditions,
    p.death_date = CASE WHEN r.death_date IS NULL THEN null ELSE date(r.death_date) END
