-- Fencing tokens from a sequence: nextval takes no row lock, so a daemon
-- stalled inside a claim does not hold up every other daemon's claims.
CREATE SEQUENCE fence_tokens;
SELECT setval('fence_tokens', (SELECT next FROM fences WHERE id = 1) + 1, false);
