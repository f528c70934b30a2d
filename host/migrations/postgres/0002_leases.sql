-- Several daemons, one queue: who owns each run (a lease renewed by
-- heartbeats) and the fencing token every commit of its executor checks.
ALTER TABLE api_runs ADD COLUMN owner TEXT;
ALTER TABLE api_runs ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
-- Milliseconds since the Unix epoch; past it, another daemon may take the run.
ALTER TABLE api_runs ADD COLUMN lease_until BIGINT;
CREATE TABLE fences (
    id BIGINT PRIMARY KEY,
    next BIGINT NOT NULL
);
INSERT INTO fences (id, next) VALUES (1, 0);
-- Instrument places held across daemons: one row per (instrument, place),
-- held by a run's claim until it is released or its lease runs out.
CREATE TABLE instrument_slots (
    instrument TEXT NOT NULL,
    slot BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    task TEXT NOT NULL,
    fence BIGINT NOT NULL,
    rank BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    PRIMARY KEY (instrument, slot)
);
-- Stages waiting for a place: the most urgent waiter, then the oldest, goes first.
CREATE TABLE slot_waiters (
    instrument TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task TEXT NOT NULL,
    rank BIGINT NOT NULL,
    since BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    PRIMARY KEY (instrument, run_id, task)
);
