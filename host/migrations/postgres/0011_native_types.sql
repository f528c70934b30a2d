-- Native PostgreSQL types (issue 12): statuses, states, kinds and priorities
-- become enums whose labels are the Rust enums' own (`as_str`), JSON columns
-- jsonb, times timestamptz. The store's SQL casts text parameters into them
-- and reads them back as text (store/db.rs). Existing rows are converted in
-- place; SQLite keeps TEXT (its migrations/sqlite/0011 is a comment).
--
-- Each enum lists its labels in byte order, so ORDER BY on it sorts as the
-- TEXT column did.

CREATE TYPE run_status AS ENUM
    ('CANCELLED', 'COMPLETED', 'FAILED', 'PENDING', 'RUNNING', 'VALIDATING'); -- views::RunStatus
CREATE TYPE run_priority AS ENUM ('clinical', 'normal', 'urgent');             -- schedule::Priority
CREATE TYPE slurm_job_state AS ENUM ('ended', 'requeued', 'submitted');        -- jobs::TrackedState
CREATE TYPE delivery_state AS ENUM ('delivered', 'failed', 'pending');         -- notifications::DeliveryState
CREATE TYPE notify_event AS ENUM ('attention', 'completed', 'failed');         -- notifications::NotifyEvent
CREATE TYPE registry_change AS ENUM ('promoted', 'registered', 'rolled-back'); -- registry::Change

-- Times: petri's RFC 3339 text back from a timestamptz, in the precision
-- each table was written with (the daemon's tables: µs; `runs`: ms).
CREATE FUNCTION rfc3339_micros(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
CREATE FUNCTION rfc3339_millis(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

ALTER TABLE api_runs
    ALTER COLUMN status TYPE run_status USING status::run_status,
    ALTER COLUMN priority TYPE run_priority USING priority::run_priority,
    ALTER COLUMN request TYPE jsonb USING request::jsonb,
    ALTER COLUMN submitted_at TYPE timestamptz USING submitted_at::timestamptz,
    ALTER COLUMN started_at TYPE timestamptz USING NULLIF(started_at, '')::timestamptz,
    ALTER COLUMN finished_at TYPE timestamptz USING NULLIF(finished_at, '')::timestamptz;
ALTER TABLE api_run_stages
    ALTER COLUMN detail TYPE jsonb USING detail::jsonb;
ALTER TABLE api_run_events
    ALTER COLUMN at TYPE timestamptz USING at::timestamptz;
ALTER TABLE api_tokens
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz,
    ALTER COLUMN expires_at TYPE timestamptz USING NULLIF(expires_at, '')::timestamptz,
    ALTER COLUMN revoked_at TYPE timestamptz USING NULLIF(revoked_at, '')::timestamptz;
ALTER TABLE api_instruments
    ALTER COLUMN spec TYPE jsonb USING spec::jsonb;
ALTER TABLE api_modules
    ALTER COLUMN manifest TYPE jsonb USING manifest::jsonb,
    ALTER COLUMN uploaded_at TYPE timestamptz USING uploaded_at::timestamptz;
ALTER TABLE runs
    ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz,
    ALTER COLUMN finished_at TYPE timestamptz USING NULLIF(finished_at, '')::timestamptz;
ALTER TABLE fuel_model
    ALTER COLUMN model TYPE jsonb USING model::jsonb;
ALTER TABLE slurm_jobs
    ALTER COLUMN state TYPE slurm_job_state USING state::slurm_job_state;
ALTER TABLE trigger_deliveries
    ALTER COLUMN received_at TYPE timestamptz USING received_at::timestamptz;
ALTER TABLE notification_deliveries
    ALTER COLUMN state TYPE delivery_state USING state::delivery_state,
    ALTER COLUMN event TYPE notify_event USING event::notify_event,
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz,
    ALTER COLUMN delivered_at TYPE timestamptz USING NULLIF(delivered_at, '')::timestamptz;
ALTER TABLE notification_subscriptions
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;
ALTER TABLE registry_history ALTER COLUMN kind DROP DEFAULT;
ALTER TABLE registry_history
    ALTER COLUMN kind TYPE registry_change USING kind::registry_change;
ALTER TABLE registry_history ALTER COLUMN kind SET DEFAULT 'registered';

-- Left as they were: api_audit (its hash chain covers `at` and `detail` as
-- written), registry_history.added_at (empty for registrations from before
-- history was kept), notification_deliveries.payload (the exact bytes signed
-- and sent), api_run_events.detail and runs.status (free text).
