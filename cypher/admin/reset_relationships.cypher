// Empty the database, step 1: relationships in small transactions (a hub node's
// DETACH DELETE in one transaction exhausts the transaction memory pool).
MATCH ()-[r]->()
CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS
