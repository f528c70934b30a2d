-- Group quotas (store/quota.rs). Fuel a group's stages were granted, one row
-- per execution: reserved before it starts, settled to what it used after, so
-- several daemons never grant the same fuel twice. A row left at its grant
-- (a daemon died mid-stage) counts in full.
CREATE TABLE quota_fuel (
    seq BIGSERIAL PRIMARY KEY,
    grp TEXT NOT NULL,
    run_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    fuel BIGINT NOT NULL
);
CREATE INDEX quota_fuel_by_group ON quota_fuel (grp, at_ms);
CREATE INDEX quota_fuel_by_run ON quota_fuel (run_id);
-- The bytes a group stores: every blob it owns counts its size for it.
-- Blobs owned before sizes were kept count 0.
ALTER TABLE api_blob_owners ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
