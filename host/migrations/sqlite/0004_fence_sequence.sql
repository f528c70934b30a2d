-- (PostgreSQL takes fencing tokens from a sequence from here on; SQLite keeps
-- the `fences` row, taken under its single write lock.)
SELECT 1;
