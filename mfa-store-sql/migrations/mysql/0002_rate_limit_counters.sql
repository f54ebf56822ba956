-- The rate limiter keeps one row per key instead of a row per hit, so a hit
-- is one upsert (MariaDB: `INSERT … ON DUPLICATE KEY UPDATE … RETURNING`).
-- `hits`: JSON array of the allowed hits still in the key's window, in
-- microseconds since the Unix epoch (at most `limit` of them); `allowed`:
-- whether the last hit was allowed; `expires_at` (µs): when every recorded
-- hit has left its window (purge_rate_limits).
CREATE TABLE {p}rate_limits (
    rate_key VARCHAR(255) NOT NULL PRIMARY KEY,
    hits LONGTEXT NOT NULL,
    allowed BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB;
-- purge_rate_limits.
CREATE INDEX {p}rate_limits_expires_idx ON {p}rate_limits (expires_at);
-- The hits of the old log carry over (DATETIME(6) columns hold UTC).
INSERT INTO {p}rate_limits (rate_key, hits, allowed, expires_at)
SELECT rate_key,
       JSON_ARRAYAGG(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', at)),
       1,
       MAX(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', expires_at))
FROM {p}rate_limit_hits GROUP BY rate_key;
-- The old tables stay: instances of the previous version keep using them
-- during a rolling upgrade (their limits then count apart from the new
-- ones for that time). A later migration drops them.
