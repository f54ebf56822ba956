-- Push approval: phone apps are factors of kind 'push' (the device key,
-- push address and description sealed in `secret`), which can be the
-- preferred method; enrolling one signs a challenge kept as a ceremony of
-- purpose 'push_enrolment'; each sign-in waiting for an app's answer is a
-- row of `push_requests`.
--
-- SQLite cannot change a CHECK in place, so the tables whose CHECK names
-- the factor kinds or the ceremony purposes are rebuilt, with foreign keys
-- on (a migration runs in one transaction, where they cannot be turned
-- off), as migration 3 does: `factors` and `challenges` (which refers to
-- it) together, the new tables made and filled first (the new
-- `challenges` referring to the new `factors`), the old child and then the
-- old parent dropped (nothing refers to them any more), and the new ones
-- renamed into place, which points the reference back at `factors`. The
-- copies name their columns, so they do not depend on column order.
CREATE TABLE {p}factors_v5 (
    id BLOB NOT NULL PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn', 'push')),
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
INSERT INTO {p}factors_v5 (id, user_id, kind, status, label, secret, totp_algorithm,
    totp_digits, totp_period, destination, last_totp_step, created_at, confirmed_at,
    last_used_at, deleted_at)
SELECT id, user_id, kind, status, label, secret, totp_algorithm, totp_digits, totp_period,
    destination, last_totp_step, created_at, confirmed_at, last_used_at, deleted_at
FROM {p}factors;
CREATE TABLE {p}challenges_v5 (
    id BLOB NOT NULL PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    factor_id BLOB NOT NULL REFERENCES {p}factors_v5 (id) ON DELETE CASCADE,
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
INSERT INTO {p}challenges_v5 (id, user_id, factor_id, ticket_id, purpose, channel, code_hash,
    attempts, max_attempts, created_at, expires_at, consumed_at)
SELECT id, user_id, factor_id, ticket_id, purpose, channel, code_hash, attempts,
    max_attempts, created_at, expires_at, consumed_at
FROM {p}challenges;
DROP TABLE {p}challenges;
DROP TABLE {p}factors;
ALTER TABLE {p}factors_v5 RENAME TO {p}factors;
ALTER TABLE {p}challenges_v5 RENAME TO {p}challenges;
CREATE INDEX {p}factors_user_idx ON {p}factors (user_id, created_at, id);
CREATE INDEX {p}factors_deleted_idx ON {p}factors (deleted_at);
CREATE INDEX {p}challenges_factor_idx ON {p}challenges (factor_id, purpose, created_at, id);
CREATE INDEX {p}challenges_expires_idx ON {p}challenges (expires_at);
CREATE INDEX {p}challenges_user_idx ON {p}challenges (user_id);

CREATE TABLE {p}mfa_settings_v5 (
    user_id BLOB NOT NULL PRIMARY KEY REFERENCES {p}users (id) ON DELETE CASCADE,
    enforced INTEGER NOT NULL,
    grace_deadline INTEGER,
    preferred TEXT CHECK (preferred IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn', 'push')),
    updated_at INTEGER NOT NULL
);
INSERT INTO {p}mfa_settings_v5 (user_id, enforced, grace_deadline, preferred, updated_at)
SELECT user_id, enforced, grace_deadline, preferred, updated_at FROM {p}mfa_settings;
DROP TABLE {p}mfa_settings;
ALTER TABLE {p}mfa_settings_v5 RENAME TO {p}mfa_settings;

CREATE TABLE {p}webauthn_ceremonies_v5 (
    id BLOB NOT NULL PRIMARY KEY,
    user_id BLOB REFERENCES {p}users (id) ON DELETE CASCADE,
    ticket_id BLOB,
    session_id BLOB,
    purpose TEXT NOT NULL
        CHECK (purpose IN ('registration', 'login', 'passwordless', 'push_enrolment')),
    state BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
);
INSERT INTO {p}webauthn_ceremonies_v5 (id, user_id, ticket_id, session_id, purpose, state,
    created_at, expires_at, consumed_at)
SELECT id, user_id, ticket_id, session_id, purpose, state, created_at, expires_at, consumed_at
FROM {p}webauthn_ceremonies;
DROP TABLE {p}webauthn_ceremonies;
ALTER TABLE {p}webauthn_ceremonies_v5 RENAME TO {p}webauthn_ceremonies;
-- purge_expired_challenges.
CREATE INDEX {p}webauthn_ceremonies_expires_idx ON {p}webauthn_ceremonies (expires_at);

-- A sign-in (or step-up) waiting for the phone app's answer: answered once
-- while pending and unexpired (resolve_push_request), and an approval
-- completes its ticket once (consume_push_request). `number` is shown by
-- the browser, `choice_1` to `choice_3` are offered by the app; `context`
-- (JSON) is what the app shows about the sign-in; `factor_id` is the
-- device whose key signed the answer. No foreign key on `ticket_id` or
-- `factor_id`: like a challenge's ticket, they are records of a short-lived
-- row that is purged by its expiry.
CREATE TABLE {p}push_requests (
    id BLOB NOT NULL PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    ticket_id BLOB NOT NULL,
    number INTEGER NOT NULL CHECK (number BETWEEN 0 AND 255),
    choice_1 INTEGER NOT NULL CHECK (choice_1 BETWEEN 0 AND 255),
    choice_2 INTEGER NOT NULL CHECK (choice_2 BETWEEN 0 AND 255),
    choice_3 INTEGER NOT NULL CHECK (choice_3 BETWEEN 0 AND 255),
    context TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'approved', 'denied', 'wrong_number', 'not_me')),
    factor_id BLOB,
    user_verified INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    answered_at INTEGER,
    consumed_at INTEGER
);
-- count_pending_push_requests; the cascade from users.
CREATE INDEX {p}push_requests_user_idx ON {p}push_requests (user_id, status, expires_at);
-- purge_push_requests.
CREATE INDEX {p}push_requests_expires_idx ON {p}push_requests (expires_at);
