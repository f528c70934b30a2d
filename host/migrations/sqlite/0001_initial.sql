-- petri's tables on SQLite, as they stood when migrations became versioned
-- files. IF NOT EXISTS: a data dir written by an earlier petri opens as is.

-- Run state (store/state.rs): stage cache, runs of `petri run`, record index, fuel history.
CREATE TABLE IF NOT EXISTS stage_cache (
    cache_key TEXT PRIMARY KEY,
    record_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (run_key, status);
CREATE TABLE IF NOT EXISTS record_seals (
    record_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fuel_model (
    id INTEGER PRIMARY KEY,
    model TEXT NOT NULL
);

-- The daemon (store/daemon.rs).
CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    grp TEXT NOT NULL,
    admin INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    priorities TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS api_runs (
    id TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    status TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    description TEXT NOT NULL,
    priority TEXT NOT NULL,
    rank INTEGER NOT NULL,
    request TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    record_id TEXT,
    root TEXT,
    error TEXT,
    recoveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS api_runs_queue ON api_runs (status, rank, id);
CREATE INDEX IF NOT EXISTS api_runs_by_group ON api_runs (grp, id);
CREATE TABLE IF NOT EXISTS api_run_stages (
    run_id TEXT NOT NULL,
    sample TEXT NOT NULL,
    stage TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (run_id, sample, stage)
);
CREATE TABLE IF NOT EXISTS api_run_events (
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_run_events_by_run ON api_run_events (run_id, at);
CREATE TABLE IF NOT EXISTS api_instruments (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_modules (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_blob_owners (
    sha256 TEXT NOT NULL,
    grp TEXT NOT NULL,
    PRIMARY KEY (sha256, grp)
);

-- The audit log: append-only for the daemon and anyone using SQL casually;
-- a determined editor drops the triggers, which `petri audit verify` catches.
CREATE TABLE IF NOT EXISTS api_audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    grp TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS api_audit_no_update BEFORE UPDATE ON api_audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS api_audit_no_delete BEFORE DELETE ON api_audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
