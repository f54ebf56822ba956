-- Erasure of personal data from the audit log: an event's chain link
-- covers a keyed digest of its personal fields (user, IP address, user
-- agent, country) in their place, kept here, so that emptying the fields
-- of a deleted user's events leaves the chain verifiable (see
-- `mfa_core::audit`). NULL for events linked before digests existed and
-- for events without a link. Adding a nullable column without a default
-- rewrites no rows.
ALTER TABLE {p}audit_events ADD COLUMN chain_personal BYTEA;
