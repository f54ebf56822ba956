-- mfa-store-sqlx schema, version 1 (postgres).
-- {p} is replaced by the table prefix (default mfa_). Layout: docs/schema.md.

CREATE TABLE {p}users (
    id UUID NOT NULL PRIMARY KEY,
    identifier TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    locale TEXT,
    password_hash TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_failures INTEGER NOT NULL DEFAULT 0 CHECK (password_failures >= 0),
    password_locked_until TIMESTAMPTZ,
    mfa_failures INTEGER NOT NULL DEFAULT 0 CHECK (mfa_failures >= 0),
    mfa_locked_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
-- find_user_by_identifier; one live user per identifier.
CREATE UNIQUE INDEX {p}users_identifier_live_uq ON {p}users (identifier) WHERE deleted_at IS NULL;
-- purge_deleted_users.
CREATE INDEX {p}users_deleted_idx ON {p}users (deleted_at);

CREATE TABLE {p}password_history (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- password_history / set_password (newest first per user).
CREATE INDEX {p}password_history_user_idx ON {p}password_history (user_id, created_at, id);

CREATE TABLE {p}factors (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('totp', 'email', 'sms', 'backup_codes')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    label TEXT,
    secret BYTEA,
    totp_algorithm TEXT CHECK (totp_algorithm IN ('sha1', 'sha256', 'sha512')),
    totp_digits INTEGER CHECK (totp_digits BETWEEN 6 AND 8),
    totp_period INTEGER CHECK (totp_period BETWEEN 1 AND 120),
    destination TEXT,
    last_totp_step BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ,
    CHECK ((totp_algorithm IS NULL AND totp_digits IS NULL AND totp_period IS NULL)
        OR (totp_algorithm IS NOT NULL AND totp_digits IS NOT NULL AND totp_period IS NOT NULL))
);
-- list_factors (live factors of a user, oldest first); soft_delete_factors_of.
CREATE INDEX {p}factors_user_idx ON {p}factors (user_id, created_at, id);
-- purge_deleted_factors.
CREATE INDEX {p}factors_deleted_idx ON {p}factors (deleted_at);

CREATE TABLE {p}mfa_settings (
    user_id UUID NOT NULL PRIMARY KEY REFERENCES {p}users (id) ON DELETE CASCADE,
    enforced BOOLEAN NOT NULL,
    grace_deadline TIMESTAMPTZ,
    preferred TEXT CHECK (preferred IN ('totp', 'email', 'sms', 'backup_codes')),
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE {p}backup_codes (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    CHECK (octet_length(code_hash) = 32)
);
-- consume_backup_code (user + digest); remaining/replace/delete by user.
CREATE UNIQUE INDEX {p}backup_codes_user_hash_uq ON {p}backup_codes (user_id, code_hash);

CREATE TABLE {p}challenges (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    factor_id UUID NOT NULL REFERENCES {p}factors (id) ON DELETE CASCADE,
    ticket_id UUID,
    purpose TEXT NOT NULL CHECK (purpose IN ('login', 'enrollment', 'step_up')),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    code_hash BYTEA NOT NULL,
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 0),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ,
    CHECK (octet_length(code_hash) = 32)
);
-- latest_challenge (newest of factor + purpose); issue_challenge closing the open ones.
CREATE INDEX {p}challenges_factor_idx ON {p}challenges (factor_id, purpose, created_at, id);
-- purge_expired_challenges.
CREATE INDEX {p}challenges_expires_idx ON {p}challenges (expires_at);
-- the user foreign key (cascade on purge_deleted_users).
CREATE INDEX {p}challenges_user_idx ON {p}challenges (user_id);

CREATE TABLE {p}login_tickets (
    id UUID NOT NULL PRIMARY KEY,
    token_hash BYTEA NOT NULL,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    session_id UUID,
    device_id UUID,
    kind TEXT NOT NULL CHECK (kind IN ('mfa', 'enrollment')),
    amr TEXT NOT NULL,
    risk_score INTEGER NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ,
    CHECK (octet_length(token_hash) = 32)
);
-- find_ticket (by token digest).
CREATE UNIQUE INDEX {p}login_tickets_hash_uq ON {p}login_tickets (token_hash);
-- purge_expired_challenges.
CREATE INDEX {p}login_tickets_expires_idx ON {p}login_tickets (expires_at);
-- the user foreign key.
CREATE INDEX {p}login_tickets_user_idx ON {p}login_tickets (user_id);

CREATE TABLE {p}devices (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    fingerprint_hash BYTEA NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('web', 'mobile', 'desktop', 'api')),
    name TEXT,
    os TEXT,
    os_version TEXT,
    browser TEXT,
    browser_version TEXT,
    app_version TEXT,
    brand TEXT,
    model TEXT,
    last_ip TEXT,
    last_country TEXT,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    trust_token_hash BYTEA,
    trusted_at TIMESTAMPTZ,
    trusted_until TIMESTAMPTZ,
    compromised_at TIMESTAMPTZ,
    risk_score INTEGER NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
    metadata JSONB NOT NULL,
    deleted_at TIMESTAMPTZ,
    CHECK (octet_length(fingerprint_hash) = 32),
    CHECK (trust_token_hash IS NULL OR octet_length(trust_token_hash) = 32),
    CHECK ((trust_token_hash IS NULL AND trusted_until IS NULL)
        OR (trust_token_hash IS NOT NULL AND trusted_until IS NOT NULL))
);
-- upsert_device: one live device per (user, fingerprint digest).
CREATE UNIQUE INDEX {p}devices_fingerprint_live_uq ON {p}devices (user_id, fingerprint_hash) WHERE deleted_at IS NULL;
-- find_trusted_device (user + trust token digest); revoke_all_device_trust.
CREATE INDEX {p}devices_trust_idx ON {p}devices (user_id, trust_token_hash);
-- list_devices (most recently seen first).
CREATE INDEX {p}devices_user_seen_idx ON {p}devices (user_id, last_seen_at);
-- purge_deleted_devices.
CREATE INDEX {p}devices_deleted_idx ON {p}devices (deleted_at);

CREATE TABLE {p}sessions (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    device_id UUID,
    session_type TEXT NOT NULL CHECK (session_type IN ('web', 'mobile', 'api')),
    status TEXT NOT NULL CHECK (status IN ('pending_mfa', 'active', 'revoked')),
    aal INTEGER NOT NULL CHECK (aal IN (1, 2)),
    amr TEXT NOT NULL,
    mfa_at TIMESTAMPTZ,
    ip TEXT,
    user_agent TEXT,
    country TEXT,
    risk_score INTEGER NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    revocation_reason TEXT CHECK (revocation_reason IN ('logout', 'revoked', 'token_reuse',
        'password_changed', 'factors_changed', 'device_compromised', 'account_disabled',
        'high_risk', 'stepped_up'))
);
-- list_sessions (newest first); revoke_user_sessions.
CREATE INDEX {p}sessions_user_idx ON {p}sessions (user_id, created_at, id);
-- revoke_device_sessions.
CREATE INDEX {p}sessions_device_idx ON {p}sessions (device_id);
-- purge_sessions (expired).
CREATE INDEX {p}sessions_expires_idx ON {p}sessions (expires_at);
-- purge_sessions (revoked).
CREATE INDEX {p}sessions_revoked_idx ON {p}sessions (revoked_at);

CREATE TABLE {p}refresh_tokens (
    id UUID NOT NULL PRIMARY KEY,
    family_id UUID NOT NULL,
    session_id UUID NOT NULL REFERENCES {p}sessions (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    parent_id UUID,
    token_hash BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    CHECK (octet_length(token_hash) = 32)
);
-- rotate_refresh_token (by presented digest).
CREATE UNIQUE INDEX {p}refresh_tokens_hash_uq ON {p}refresh_tokens (token_hash);
-- revoke_refresh_family and reuse detection.
CREATE INDEX {p}refresh_tokens_family_idx ON {p}refresh_tokens (family_id);
-- revoke_session / revoke_*_sessions (tokens of a session); the session foreign key.
CREATE INDEX {p}refresh_tokens_session_idx ON {p}refresh_tokens (session_id);
-- the user foreign key.
CREATE INDEX {p}refresh_tokens_user_idx ON {p}refresh_tokens (user_id);

-- No foreign keys: the audit log outlives its subjects.
CREATE TABLE {p}audit_events (
    id UUID NOT NULL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    user_id UUID,
    session_id UUID,
    device_id UUID,
    -- No CHECK on kind: the set of audit kinds grows with the engine, and an
    -- older schema must not refuse events of a newer engine (rolling deploys).
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    factor TEXT CHECK (factor IN ('totp', 'email', 'sms', 'backup_codes')),
    ip TEXT,
    user_agent TEXT,
    country TEXT,
    risk_score INTEGER CHECK (risk_score BETWEEN 0 AND 100),
    metadata JSONB NOT NULL
);
-- query_audit without a subject filter (newest first, keyset paging on (at, id)).
CREATE INDEX {p}audit_at_idx ON {p}audit_events (at, id);
-- query_audit by user.
CREATE INDEX {p}audit_user_idx ON {p}audit_events (user_id, at, id);
-- query_audit by session.
CREATE INDEX {p}audit_session_idx ON {p}audit_events (session_id, at, id);
-- query_audit by device.
CREATE INDEX {p}audit_device_idx ON {p}audit_events (device_id, at, id);

-- One row per rate-limit key: hit() locks it to serialise check and insert.
CREATE TABLE {p}rate_limit_keys (
    rate_key TEXT NOT NULL PRIMARY KEY
);

-- Sliding log: one row per allowed hit.
CREATE TABLE {p}rate_limit_hits (
    id UUID NOT NULL PRIMARY KEY,
    rate_key TEXT NOT NULL REFERENCES {p}rate_limit_keys (rate_key) ON DELETE CASCADE,
    at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
-- hit (hits of a key inside the window).
CREATE INDEX {p}rate_limit_hits_key_idx ON {p}rate_limit_hits (rate_key, at);
-- purge_rate_limits.
CREATE INDEX {p}rate_limit_hits_expires_idx ON {p}rate_limit_hits (expires_at);
