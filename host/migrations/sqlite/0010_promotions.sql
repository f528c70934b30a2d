-- Promotions and rollbacks (pipeline/promote.rs) in the registry history:
-- how each entry became its name's current module (`registered` by an add,
-- `promoted` after shadow runs, `rolled-back`), and for a promotion the
-- SHA-256 of its shadow report (a blob in the store). Older rows were adds.
ALTER TABLE registry_history ADD COLUMN kind TEXT NOT NULL DEFAULT 'registered';
ALTER TABLE registry_history ADD COLUMN report TEXT;
