-- Push approval: phone apps are factors of kind 'push' (the device key,
-- push address and description sealed in `secret`), which can be the
-- preferred method; enrolling one signs a challenge kept as a ceremony of
-- purpose 'push_enrolment'; each sign-in waiting for an app's answer is a
-- row of `push_requests`.
ALTER TABLE {p}factors DROP CONSTRAINT {p}factors_kind_check;
ALTER TABLE {p}factors ADD CONSTRAINT {p}factors_kind_check
    CHECK (kind IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn', 'push'));
ALTER TABLE {p}mfa_settings DROP CONSTRAINT {p}mfa_settings_preferred_check;
ALTER TABLE {p}mfa_settings ADD CONSTRAINT {p}mfa_settings_preferred_check
    CHECK (preferred IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn', 'push'));
-- Named by PostgreSQL when migration 3 created the table.
ALTER TABLE {p}webauthn_ceremonies DROP CONSTRAINT {p}webauthn_ceremonies_purpose_check;
ALTER TABLE {p}webauthn_ceremonies ADD CONSTRAINT {p}webauthn_ceremonies_purpose_check
    CHECK (purpose IN ('registration', 'login', 'passwordless', 'push_enrolment'));

-- A sign-in (or step-up) waiting for the phone app's answer: answered once
-- while pending and unexpired (resolve_push_request), and an approval
-- completes its ticket once (consume_push_request). `number` is shown by
-- the browser, `choice_1` to `choice_3` are offered by the app; `context`
-- is what the app shows about the sign-in; `factor_id` is the device whose
-- key signed the answer. No foreign key on `ticket_id` or `factor_id`:
-- like a challenge's ticket, they are records of a short-lived row that is
-- purged by its expiry.
CREATE TABLE {p}push_requests (
    id UUID NOT NULL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES {p}users (id) ON DELETE CASCADE,
    ticket_id UUID NOT NULL,
    number INTEGER NOT NULL CHECK (number BETWEEN 0 AND 255),
    choice_1 INTEGER NOT NULL CHECK (choice_1 BETWEEN 0 AND 255),
    choice_2 INTEGER NOT NULL CHECK (choice_2 BETWEEN 0 AND 255),
    choice_3 INTEGER NOT NULL CHECK (choice_3 BETWEEN 0 AND 255),
    context JSONB NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'approved', 'denied', 'wrong_number', 'not_me')),
    factor_id UUID,
    user_verified BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    answered_at TIMESTAMPTZ,
    consumed_at TIMESTAMPTZ
);
-- count_pending_push_requests; the cascade from users.
CREATE INDEX {p}push_requests_user_idx ON {p}push_requests (user_id, status, expires_at);
-- purge_push_requests.
CREATE INDEX {p}push_requests_expires_idx ON {p}push_requests (expires_at);
