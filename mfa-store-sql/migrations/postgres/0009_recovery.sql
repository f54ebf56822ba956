-- Account recovery and email verification: when the account's email
-- address was proved to receive mail (cleared when it changes), and two
-- more kinds of single-use tickets, the password reset and verification
-- links.
ALTER TABLE {p}users ADD COLUMN email_verified_at TIMESTAMPTZ;
ALTER TABLE {p}login_tickets DROP CONSTRAINT {p}login_tickets_kind_check;
ALTER TABLE {p}login_tickets ADD CONSTRAINT {p}login_tickets_kind_check
    CHECK (kind IN ('mfa', 'enrollment', 'password_reset', 'email_verification'));
