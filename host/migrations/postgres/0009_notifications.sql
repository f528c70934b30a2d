-- Notification subscriptions and their outbox (store/notifications.rs,
-- server/notify.rs, routes/notifications.rs). A subscription is one group's:
-- the URL run events are POSTed to, the secret they are signed with, and the
-- events it wants (`,completed,failed,attention,`: commas around each, so one
-- LIKE finds a name). A delivery row is written in the transaction of the run's
-- state change, one per matching subscription; the delivery loop claims due
-- rows under a lease (`claimed_by`, `lease_until_ms`) and records each
-- attempt. Times in ms are since the Unix epoch, on the database's clock.
CREATE TABLE notification_subscriptions (
    id TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX notification_subscriptions_grp ON notification_subscriptions (grp);

CREATE TABLE notification_deliveries (
    id BIGSERIAL PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event TEXT NOT NULL,
    run_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    last_error TEXT,
    next_attempt_ms BIGINT NOT NULL,
    claimed_by TEXT,
    lease_until_ms BIGINT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_ms);
