-- Native PostgreSQL types (migrations/postgres/0011): enums, jsonb and
-- timestamptz there. SQLite keeps every column TEXT; store/db.rs drops the
-- PostgreSQL casts from the SQL it runs here. Nothing to change.
SELECT 1;
