// prescribing_scope (beyond the contract): the city's declared prescribing scope, one node per
// (specialty, item_prefix, basis); reference data for the rules (R-MED-016) and for an
// investigator reading a hit. basis: catalogue (the item is restricted to the specialty) or
// practice (the specialty's declared practice scope covers the item); empty = catalogue.
UNWIND $rows AS r
WITH r, coalesce(r.basis, 'catalogue') AS basis
MERGE (s:PrescribingScope {scope_key: r.specialty + '|' + r.item_prefix + '|' + basis})
SET s.specialty = r.specialty, s.item_prefix = r.item_prefix, s.basis = basis
