// After a bulk import: the batched loader stores an unknown list as [] (table_rows
// sends [] for an empty field), the importer leaves the property out. Make them equal.
MATCH (p:Person) WHERE p.chronic_conditions IS NULL
CALL (p) { SET p.chronic_conditions = [] } IN TRANSACTIONS OF 50000 ROWS;
MATCH (t:Item) WHERE t.indication_prefixes IS NULL
CALL (t) { SET t.indication_prefixes = [] } IN TRANSACTIONS OF 50000 ROWS;
MATCH (v:Visit) WHERE v.diagnosis_codes IS NULL
CALL (v) { SET v.diagnosis_codes = [] } IN TRANSACTIONS OF 50000 ROWS;
