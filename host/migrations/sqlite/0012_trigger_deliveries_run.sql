-- Which trigger delivery submitted a run (store/triggers.rs `delivery_of`,
-- read by the run page, the runs list and the event stream) is looked up by
-- `run_id`; without this index each lookup scans every delivery.
CREATE INDEX trigger_deliveries_run ON trigger_deliveries (run_id);
