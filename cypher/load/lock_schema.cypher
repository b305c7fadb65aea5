// The load lock's uniqueness constraint: it makes the MERGE of lock_acquire atomic. Idempotent.
CREATE CONSTRAINT load_lock_name IF NOT EXISTS FOR (n:LoadLock) REQUIRE n.name IS UNIQUE;
