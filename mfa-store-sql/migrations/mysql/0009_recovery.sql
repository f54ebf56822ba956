-- Account recovery and email verification: when the account's email
-- address was proved to receive mail (cleared when it changes), and two
-- more kinds of single-use tickets, the password reset and verification
-- links. MariaDB keeps a column's CHECK with the column, so MODIFY
-- replaces it.
ALTER TABLE {p}users ADD COLUMN email_verified_at DATETIME(6);
ALTER TABLE {p}login_tickets MODIFY kind VARCHAR(32) NOT NULL
    CHECK (kind IN ('mfa', 'enrollment', 'password_reset', 'email_verification'));
