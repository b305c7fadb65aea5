UNWIND $rows AS r
MERGE (t:Item {item_code: r.item_code})
SET t.name = r.name, t.item_type = r.item_type, t.insurance_class = r.insurance_class,
    t.price_cap = r.price_cap, t.sex_limit = r.sex_limit, t.age_min = r.age_min, t.age_max = r.age_max,
    t.indication_prefixes = r.indication_prefixes, t.max_days_supply = r.max_days_supply,
    t.max_qty_per_visit = r.max_qty_per_visit
