-- Fuel history as an append-only log of observations, so that the histories
-- of several daemons merge instead of the last one to save overwriting the
-- rest. `fuel_model` stays as the starting point of older data dirs.
CREATE TABLE fuel_observations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    fuel BIGINT NOT NULL,
    -- Milliseconds, when the run was timed.
    elapsed_ms BIGINT
);
