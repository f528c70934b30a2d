-- petri's tables on PostgreSQL: the same shape as migrations/sqlite/0001,
-- with BIGINT counters and plpgsql guards on the audit log.

CREATE TABLE stage_cache (
    cache_key TEXT PRIMARY KEY,
    record_id TEXT NOT NULL
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX runs_by_key ON runs (run_key, status);
CREATE TABLE record_seals (
    record_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
CREATE TABLE fuel_model (
    id BIGINT PRIMARY KEY,
    model TEXT NOT NULL
);

CREATE TABLE api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    grp TEXT NOT NULL,
    admin BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    priorities TEXT NOT NULL DEFAULT ''
);
CREATE TABLE api_runs (
    id TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    status TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    description TEXT NOT NULL,
    priority TEXT NOT NULL,
    rank BIGINT NOT NULL,
    request TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    record_id TEXT,
    root TEXT,
    error TEXT,
    recoveries BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_runs_queue ON api_runs (status, rank, id);
CREATE INDEX api_runs_by_group ON api_runs (grp, id);
CREATE TABLE api_run_stages (
    run_id TEXT NOT NULL,
    sample TEXT NOT NULL,
    stage TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (run_id, sample, stage)
);
CREATE TABLE api_run_events (
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX api_run_events_by_run ON api_run_events (run_id, at);
CREATE TABLE api_instruments (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
CREATE TABLE api_modules (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    size BIGINT NOT NULL,
    manifest TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE TABLE api_blob_owners (
    sha256 TEXT NOT NULL,
    grp TEXT NOT NULL,
    PRIMARY KEY (sha256, grp)
);

CREATE TABLE api_audit (
    seq BIGINT PRIMARY KEY,
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
CREATE FUNCTION api_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER api_audit_no_update BEFORE UPDATE ON api_audit
    FOR EACH ROW EXECUTE FUNCTION api_audit_append_only();
CREATE TRIGGER api_audit_no_delete BEFORE DELETE ON api_audit
    FOR EACH ROW EXECUTE FUNCTION api_audit_append_only();
