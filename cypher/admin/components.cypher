// Server name, version and edition (run against the `system` database).
CALL dbms.components() YIELD name, versions, edition
RETURN name, versions[0] AS version, edition
