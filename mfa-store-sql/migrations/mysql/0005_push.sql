-- Push approval: phone apps are factors of kind 'push' (the device key,
-- push address and description sealed in `secret`), which can be the
-- preferred method; enrolling one signs a challenge kept as a ceremony of
-- purpose 'push_enrolment'; each sign-in waiting for an app's answer is a
-- row of `push_requests`. MariaDB keeps a column's CHECK with the column,
-- so MODIFY replaces it.
ALTER TABLE {p}factors MODIFY kind VARCHAR(32) NOT NULL
    CHECK (kind IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn', 'push'));
ALTER TABLE {p}mfa_settings MODIFY preferred VARCHAR(32)
    CHECK (preferred IN ('totp', 'email', 'sms', 'backup_codes', 'webauthn', 'push'));
ALTER TABLE {p}webauthn_ceremonies MODIFY purpose VARCHAR(32) NOT NULL
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
    id BINARY(16) NOT NULL PRIMARY KEY,
    user_id BINARY(16) NOT NULL,
    ticket_id BINARY(16) NOT NULL,
    number INT NOT NULL CHECK (number BETWEEN 0 AND 255),
    choice_1 INT NOT NULL CHECK (choice_1 BETWEEN 0 AND 255),
    choice_2 INT NOT NULL CHECK (choice_2 BETWEEN 0 AND 255),
    choice_3 INT NOT NULL CHECK (choice_3 BETWEEN 0 AND 255),
    context JSON NOT NULL,
    status VARCHAR(32) NOT NULL
        CHECK (status IN ('pending', 'approved', 'denied', 'wrong_number', 'not_me')),
    factor_id BINARY(16),
    user_verified BOOLEAN NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    answered_at DATETIME(6),
    consumed_at DATETIME(6),
    FOREIGN KEY (user_id) REFERENCES {p}users (id) ON DELETE CASCADE
) ENGINE=InnoDB;
-- count_pending_push_requests; the cascade from users.
CREATE INDEX {p}push_requests_user_idx ON {p}push_requests (user_id, status, expires_at);
-- purge_push_requests.
CREATE INDEX {p}push_requests_expires_idx ON {p}push_requests (expires_at);
