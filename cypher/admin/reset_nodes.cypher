// Empty the database, step 2: the nodes (schema is kept).
MATCH (n)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS
