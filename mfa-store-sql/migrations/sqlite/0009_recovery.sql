-- Account recovery and email verification: when the account's email
-- address was proved to receive mail (cleared when it changes), and two
-- more kinds of single-use tickets, the password reset and verification
-- links.
ALTER TABLE {p}users ADD COLUMN email_verified_at INTEGER;
-- SQLite cannot change a CHECK in place: `login_tickets` is rebuilt (no
-- table refers to it).
CREATE TABLE {p}login_tickets_v9 (
    id BLOB NOT NULL PRIMARY KEY,
    token_hash BLOB NOT NULL,
    user_id BLOB NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    session_id BLOB,
    device_id BLOB,
    kind TEXT NOT NULL
        CHECK (kind IN ('mfa', 'enrollment', 'password_reset', 'email_verification')),
    amr TEXT NOT NULL,
    risk_score INTEGER NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER,
    CHECK (length(token_hash) = 32)
);
INSERT INTO {p}login_tickets_v9 SELECT * FROM {p}login_tickets;
DROP TABLE {p}login_tickets;
ALTER TABLE {p}login_tickets_v9 RENAME TO {p}login_tickets;
-- find_ticket (by token digest).
CREATE UNIQUE INDEX {p}login_tickets_hash_uq ON {p}login_tickets (token_hash);
-- purge_expired_challenges.
CREATE INDEX {p}login_tickets_expires_idx ON {p}login_tickets (expires_at);
-- the user foreign key.
CREATE INDEX {p}login_tickets_user_idx ON {p}login_tickets (user_id);
