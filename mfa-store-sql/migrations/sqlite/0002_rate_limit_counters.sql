-- The rate limiter keeps one row per key instead of a row per hit, so a hit
-- is one upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`).
-- `hits`: JSON array of the allowed hits still in the key's window, in
-- microseconds since the Unix epoch (at most `limit` of them);
-- `allowed`: whether the last hit was allowed; `expires_at` (µs): when every
-- recorded hit has left its window (purge_rate_limits).
CREATE TABLE {p}rate_limits (
    rate_key TEXT NOT NULL PRIMARY KEY,
    hits TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
-- purge_rate_limits.
CREATE INDEX {p}rate_limits_expires_idx ON {p}rate_limits (expires_at);
-- The hits of the old log carry over (timestamps are already µs here).
INSERT INTO {p}rate_limits (rate_key, hits, allowed, expires_at)
SELECT rate_key, json_group_array(at), 1, MAX(expires_at)
FROM {p}rate_limit_hits GROUP BY rate_key;
-- The old tables stay: instances of the previous version keep using them
-- during a rolling upgrade (their limits then count apart from the new
-- ones for that time). A later migration drops them.
