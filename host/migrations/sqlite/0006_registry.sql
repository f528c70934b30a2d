-- The module registry (store/registry.rs) in the database, where every daemon
-- sharing it sees the same names; a data dir's older registry.json is
-- imported into these tables when the registry is opened (store/registry_file.rs).

-- Each name's current module.
CREATE TABLE registry_current (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
-- Every registration, oldest first: which version named which bytes, when
-- (RFC 3339; empty for registrations made before history was kept), and
-- whether it was forced over other bytes under the same name and version.
CREATE TABLE registry_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    added_at TEXT NOT NULL,
    forced BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX registry_history_by_name ON registry_history (name, version, seq);
CREATE TRIGGER registry_history_no_update BEFORE UPDATE ON registry_history
BEGIN SELECT RAISE(ABORT, 'the registry history is append-only'); END;
CREATE TRIGGER registry_history_no_delete BEFORE DELETE ON registry_history
BEGIN SELECT RAISE(ABORT, 'the registry history is append-only'); END;
