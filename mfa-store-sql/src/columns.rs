//! Column lists of the `SELECT`s, one per table, in the order the row
//! readers expect nothing of (rows are read by name).

/// Columns of `<prefix>users`.
pub const USER: &str = "id, identifier, email, email_verified_at, phone, locale, \
    password_hash, status, password_failures, password_locked_until, mfa_failures, \
    mfa_locked_until, created_at, updated_at, deleted_at";

/// Columns of `<prefix>factors`.
pub const FACTOR: &str = "id, user_id, kind, status, label, secret, totp_algorithm, \
    totp_digits, totp_period, destination, last_totp_step, created_at, confirmed_at, \
    last_used_at, deleted_at";

/// Columns of `<prefix>mfa_settings`.
pub const SETTINGS: &str = "user_id, enforced, grace_deadline, preferred, updated_at";

/// Columns of `<prefix>challenges`.
pub const CHALLENGE: &str = "id, user_id, factor_id, ticket_id, purpose, channel, \
    code_hash, attempts, max_attempts, created_at, expires_at, consumed_at";

/// Columns of `<prefix>webauthn_ceremonies`.
pub const CEREMONY: &str = "id, user_id, ticket_id, session_id, purpose, state, created_at, \
    expires_at, consumed_at";

/// Columns of `<prefix>push_requests`.
pub const PUSH_REQUEST: &str = "id, user_id, ticket_id, number, choice_1, choice_2, choice_3, \
    context, status, factor_id, user_verified, created_at, expires_at, answered_at, consumed_at";

/// Columns of `<prefix>key_checks`.
pub const KEY_CHECK: &str = "kind, key_id, check_value, created_at";

/// Columns of `<prefix>login_tickets`.
pub const TICKET: &str = "id, token_hash, user_id, session_id, device_id, kind, amr, \
    risk_score, created_at, expires_at, consumed_at";

/// Columns of `<prefix>devices`.
pub const DEVICE: &str = "id, user_id, fingerprint_hash, kind, name, os, os_version, \
    browser, browser_version, app_version, brand, model, last_ip, last_country, first_seen_at, \
    last_seen_at, trust_token_hash, trusted_at, trusted_until, compromised_at, risk_score, \
    metadata, deleted_at";

/// Columns of `<prefix>sessions`.
pub const SESSION: &str = "id, user_id, device_id, session_type, status, aal, amr, \
    mfa_at, ip, user_agent, country, risk_score, created_at, last_seen_at, expires_at, \
    revoked_at, revocation_reason";

/// Columns of `<prefix>refresh_tokens`.
pub const REFRESH: &str = "id, family_id, session_id, user_id, parent_id, token_hash, \
    status, created_at, expires_at, used_at";

/// Columns of `<prefix>audit_events`.
pub const AUDIT: &str = "id, at, user_id, session_id, device_id, kind, outcome, factor, \
    ip, user_agent, country, risk_score, metadata, chain_id, chain_seq, chain_mac, chain_personal";
