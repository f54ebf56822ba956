-- WebAuthn credentials (passkeys, security keys) are factors of kind
-- 'webauthn': the relying party's credential record sealed in `secret`, the
-- authenticator's signature counter in `last_totp_step`.
ALTER TABLE {p}factors DROP CONSTRAINT {p}factors_kind_check;
ALTER TABLE {p}factors ADD CONSTRAINT {p}factors_kind_check
    CHECK (kind IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn'));
ALTER TABLE {p}mfa_settings DROP CONSTRAINT {p}mfa_settings_preferred_check;
ALTER TABLE {p}mfa_settings ADD CONSTRAINT {p}mfa_settings_preferred_check
    CHECK (preferred IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn'));
-- Like `kind`, the audit log's factor names no longer have a CHECK: an
-- older schema must not refuse events of a newer engine (rolling deploys).
ALTER TABLE {p}audit_events DROP CONSTRAINT {p}audit_events_factor_check;

-- The relying party's state between the options of a ceremony and the
-- browser's answer: single use (take_ceremony), expiring, sealed.
CREATE TABLE {p}webauthn_ceremonies (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID REFERENCES {p}users (id) ON DELETE CASCADE,
    ticket_id UUID,
    session_id UUID,
    purpose TEXT NOT NULL CHECK (purpose IN ('registration', 'login', 'passwordless')),
    state BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ
);
-- purge_expired_challenges.
CREATE INDEX {p}webauthn_ceremonies_expires_idx ON {p}webauthn_ceremonies (expires_at);
