-- WebAuthn credentials (passkeys, security keys) are factors of kind
-- 'webauthn': the relying party's credential record sealed in `secret`, the
-- authenticator's signature counter in `last_totp_step`.
--
-- SQLite cannot change a CHECK in place: the tables whose CHECK names the
-- factor kinds are rebuilt, with foreign keys on (a migration runs in one
-- transaction, where they cannot be turned off). Renaming or dropping
-- `factors` while `challenges` refers to it would rewrite that reference
-- or cascade the drop into it, so both are rebuilt together: the new
-- tables are made and filled first (the new `challenges` referring to the
-- new `factors`), the old child and then the old parent dropped (nothing
-- refers to them any more), and the new ones renamed into place, which
-- points the reference back at `factors`.
CREATE TABLE {p}factors_v3 (
    id BLOB NOT NULL PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    label TEXT,
    secret BLOB,
    totp_algorithm TEXT CHECK (totp_algorithm IN ('sha1', 'sha256', 'sha512')),
    totp_digits INTEGER CHECK (totp_digits BETWEEN 6 AND 8),
    totp_period INTEGER CHECK (totp_period BETWEEN 1 AND 120),
    destination TEXT,
    last_totp_step INTEGER,
    created_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_used_at INTEGER,
    deleted_at INTEGER,
    CHECK ((totp_algorithm IS NULL AND totp_digits IS NULL AND totp_period IS NULL)
        OR (totp_algorithm IS NOT NULL AND totp_digits IS NOT NULL AND totp_period IS NOT NULL))
);
INSERT INTO {p}factors_v3 SELECT * FROM {p}factors;
CREATE TABLE {p}challenges_v3 (
    id BLOB NOT NULL PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    factor_id BLOB NOT NULL REFERENCES {p}factors_v3 (id) ON DELETE CASCADE,
    ticket_id BLOB,
    purpose TEXT NOT NULL CHECK (purpose IN ('login', 'enrollment', 'step_up')),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    code_hash BLOB NOT NULL,
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 0),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER,
    CHECK (length(code_hash) = 32)
);
INSERT INTO {p}challenges_v3 SELECT * FROM {p}challenges;
DROP TABLE {p}challenges;
DROP TABLE {p}factors;
ALTER TABLE {p}factors_v3 RENAME TO {p}factors;
ALTER TABLE {p}challenges_v3 RENAME TO {p}challenges;
CREATE INDEX {p}factors_user_idx ON {p}factors (user_id, created_at, id);
CREATE INDEX {p}factors_deleted_idx ON {p}factors (deleted_at);
CREATE INDEX {p}challenges_factor_idx ON {p}challenges (factor_id, purpose, created_at, id);
CREATE INDEX {p}challenges_expires_idx ON {p}challenges (expires_at);
CREATE INDEX {p}challenges_user_idx ON {p}challenges (user_id);

CREATE TABLE {p}mfa_settings_v3 (
    user_id BLOB NOT NULL PRIMARY KEY REFERENCES {p}users (id) ON DELETE CASCADE,
    enforced INTEGER NOT NULL,
    grace_deadline INTEGER,
    preferred TEXT CHECK (preferred IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn')),
    updated_at INTEGER NOT NULL
);
INSERT INTO {p}mfa_settings_v3 SELECT * FROM {p}mfa_settings;
DROP TABLE {p}mfa_settings;
ALTER TABLE {p}mfa_settings_v3 RENAME TO {p}mfa_settings;

CREATE TABLE {p}audit_events_v3 (
    id BLOB NOT NULL PRIMARY KEY,
    at INTEGER NOT NULL,
    user_id BLOB,
    session_id BLOB,
    device_id BLOB,
    -- No CHECK on kind: the set of audit kinds grows with the engine, and an
    -- older schema must not refuse events of a newer engine (rolling deploys).
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    -- Like `kind`, no CHECK: an older schema must not refuse a newer engine.
    factor TEXT,
    ip TEXT,
    user_agent TEXT,
    country TEXT,
    risk_score INTEGER CHECK (risk_score BETWEEN 0 AND 100),
    metadata TEXT NOT NULL
);
INSERT INTO {p}audit_events_v3 SELECT * FROM {p}audit_events;
DROP TABLE {p}audit_events;
ALTER TABLE {p}audit_events_v3 RENAME TO {p}audit_events;
CREATE INDEX {p}audit_at_idx ON {p}audit_events (at, id);
CREATE INDEX {p}audit_user_idx ON {p}audit_events (user_id, at, id);
CREATE INDEX {p}audit_session_idx ON {p}audit_events (session_id, at, id);
CREATE INDEX {p}audit_device_idx ON {p}audit_events (device_id, at, id);

-- The relying party's state between the options of a ceremony and the
-- browser's answer: single use (take_ceremony), expiring, sealed.
CREATE TABLE {p}webauthn_ceremonies (
    id BLOB NOT NULL PRIMARY KEY,
    user_id BLOB REFERENCES {p}users (id) ON DELETE CASCADE,
    ticket_id BLOB,
    session_id BLOB,
    purpose TEXT NOT NULL CHECK (purpose IN ('registration', 'login', 'passwordless')),
    state BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
);
-- purge_expired_challenges.
CREATE INDEX {p}webauthn_ceremonies_expires_idx ON {p}webauthn_ceremonies (expires_at);
