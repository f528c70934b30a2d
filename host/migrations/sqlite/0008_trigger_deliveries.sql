-- Deliveries of webhook triggers (server/routes/triggers.rs, store/triggers.rs):
-- one row per (trigger, SHA-256 of the signed body), written before the run
-- is submitted, so a replayed delivery answers with the run the first one
-- started instead of starting another. `run_id` is NULL while the first is
-- being submitted.
CREATE TABLE trigger_deliveries (
    trigger_name TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    run_id TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (trigger_name, body_sha256)
);
