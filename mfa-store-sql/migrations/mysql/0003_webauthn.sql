-- WebAuthn credentials (passkeys, security keys) are factors of kind
-- 'webauthn': the relying party's credential record sealed in `secret`, the
-- authenticator's signature counter in `last_totp_step`. MariaDB keeps a
-- column's CHECK with the column, so MODIFY replaces it.
ALTER TABLE {p}factors MODIFY kind VARCHAR(32) NOT NULL
    CHECK (kind IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn'));
ALTER TABLE {p}mfa_settings MODIFY preferred VARCHAR(32)
    CHECK (preferred IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn'));
-- Like `kind`, the audit log's factor names no longer have a CHECK: an
-- older schema must not refuse events of a newer engine (rolling deploys).
ALTER TABLE {p}audit_events MODIFY factor VARCHAR(32);

-- The relying party's state between the options of a ceremony and the
-- browser's answer: single use (take_ceremony), expiring, sealed.
CREATE TABLE {p}webauthn_ceremonies (
    id BINARY(16) NOT NULL PRIMARY KEY,
    user_id BINARY(16),
    ticket_id BINARY(16),
    session_id BINARY(16),
    purpose VARCHAR(32) NOT NULL CHECK (purpose IN ('registration', 'login', 'passwordless')),
    state BLOB NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    consumed_at DATETIME(6),
    FOREIGN KEY (user_id) REFERENCES {p}users (id) ON DELETE CASCADE
) ENGINE=InnoDB;
-- purge_expired_challenges.
CREATE INDEX {p}webauthn_ceremonies_expires_idx ON {p}webauthn_ceremonies (expires_at);
