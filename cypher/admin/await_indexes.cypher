// Wait until every index (and constraint-backing index) is online.
CALL db.awaitIndexes(300)
