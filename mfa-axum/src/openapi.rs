//! The OpenAPI 3.1 description of [`MfaState::routes`]. The schemas of
//! the request bodies and the answers are derived from the types the
//! routes read and answer with (`utoipa::ToSchema`, with mfa-core's
//! `openapi` feature for the model types they hold), so a field added,
//! renamed or made optional there changes the document too; the
//! operations, and the push answer's schema (mfa-core parses it field by
//! field), are written here with `serde_json`. Tests hold it to the code:
//! every served route is documented, and nothing else is; every request
//! the service accepted in its test suite matches the documented request
//! body; and every response it answered (status and JSON body, field by
//! field, no undocumented field) matches the operation's documented
//! responses. A host serving more routes adds its own operations to
//! `paths`.
//!
//! [`MfaState::routes`]: crate::MfaState::routes

use serde_json::{Map, Value, json};

fn err(codes: &[&str]) -> Value {
    let mut responses = Map::new();
    for code in codes {
        let (status, text) = match *code {
            "400" => ("400", "invalid_input: a malformed request"),
            "401" => (
                "401",
                "invalid_credentials, invalid_code, invalid_ticket, invalid_token or challenge_expired",
            ),
            "403" => (
                "403",
                "mfa_required, step_up_required, enrollment_required, login_blocked, token_reused, or forbidden (a service key without the route's scope)",
            ),
            "404" => ("404", "not_found"),
            "409" => (
                "409",
                "conflict, push_already_registered, push_too_many_devices or push_pending",
            ),
            "422" => ("422", "method_unavailable"),
            "423" => (
                "423",
                "account_locked (with Retry-After when the lock ends)",
            ),
            "413" => ("413", "payload_too_large: the body is over the size limit"),
            "429" => ("429", "rate_limited (with Retry-After)"),
            "502" => ("502", "delivery_failed"),
            "503" => ("503", "unavailable"),
            other => (other, "error"),
        };
        responses.insert(
            status.to_owned(),
            json!({
                "description": text,
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
            }),
        );
    }
    Value::Object(responses)
}

fn ok(status: &str, description: &str, schema: Option<&str>) -> Value {
    let mut r = json!({ "description": description });
    if let Some(schema) = schema {
        r["content"] = json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } });
    }
    json!({ status: r })
}

struct Op {
    id: &'static str,
    summary: &'static str,
    tag: &'static str,
    security: &'static [&'static str],
    body: Option<&'static str>,
    params: Vec<Value>,
    ok: Value,
    errors: &'static [&'static str],
}

impl Op {
    fn new(id: &'static str, tag: &'static str, summary: &'static str) -> Self {
        Self {
            id,
            summary,
            tag,
            security: &[],
            body: None,
            params: Vec::new(),
            ok: ok("200", "OK", None),
            errors: &["429"],
        }
    }
    fn security(mut self, s: &'static [&'static str]) -> Self {
        self.security = s;
        self
    }
    fn body(mut self, schema: &'static str) -> Self {
        self.body = Some(schema);
        self
    }
    fn param(mut self, p: Value) -> Self {
        self.params.push(p);
        self
    }
    fn ok(mut self, status: &str, description: &str, schema: Option<&str>) -> Self {
        self.ok = ok(status, description, schema);
        self
    }
    /// Another success status beside the one [`Op::ok`] sets.
    fn also_ok(mut self, status: &str, description: &str, schema: Option<&str>) -> Self {
        if let (Value::Object(all), Value::Object(more)) =
            (&mut self.ok, ok(status, description, schema))
        {
            all.extend(more);
        }
        self
    }
    fn errors(mut self, e: &'static [&'static str]) -> Self {
        self.errors = e;
        self
    }
    fn build(self) -> Value {
        let mut responses = self.ok.as_object().cloned().unwrap_or_default();
        if let Value::Object(e) = err(self.errors) {
            responses.extend(e);
        }
        if self.body.is_some()
            && let Value::Object(e) = err(&["413"])
        {
            responses.extend(e);
        }
        let mut op = json!({
            "operationId": self.id,
            "summary": self.summary,
            "tags": [self.tag],
            "responses": responses,
        });
        if !self.security.is_empty() {
            op["security"] =
                Value::Array(self.security.iter().map(|s| json!({ *s: [] })).collect());
        }
        if let Some(schema) = self.body {
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            });
        }
        if !self.params.is_empty() {
            op["parameters"] = Value::Array(self.params);
        }
        op
    }
}

fn id_param(description: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": description,
            "schema": { "type": "string", "format": "uuid" } })
}

fn ticket_query() -> Value {
    json!({ "name": "ticket", "in": "query", "required": false,
            "description": "The login ticket (alternatively the X-MFA-Ticket header)",
            "schema": { "type": "string" } })
}

const BEARER: &[&str] = &["bearer"];
const SERVICE: &[&str] = &["serviceKey"];
const BEARER_OR_TICKET: &[&str] = &["bearer", "ticket"];

fn operations() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("/api/signup", "post", Op::new("signup", "account", "Create an account")
            .body("SignupRequest").ok("201", "Created", Some("SignupResponse"))
            .errors(&["400", "409", "429"]).build()),
        ("/api/login", "post", Op::new("login", "sign-in", "Sign in with identifier and password")
            .body("LoginRequest").ok("200", "Signed in, or a ticket for the second factor or enrolment", Some("LoginResponse"))
            .errors(&["400", "401", "403", "429"]).build()),
        ("/api/login/skip-mfa", "post", Op::new("skipMfa", "sign-in", "Sign in without a second factor during the enrolment grace period")
            .security(&["ticket"]).body("TicketRequest").ok("200", "Signed in", Some("Tokens"))
            .errors(&["400", "401", "403", "429"]).build()),
        ("/api/token/refresh", "post", Op::new("refresh", "sign-in", "Rotate a refresh token")
            .body("RefreshRequest").ok("200", "New tokens", Some("Tokens"))
            .errors(&["400", "401", "403", "429"]).build()),
        ("/api/logout", "post", Op::new("logout", "sign-in", "End the current session")
            .security(BEARER).ok("204", "Signed out", None).errors(&["401", "429"]).build()),
        ("/api/mfa/challenge", "get", Op::new("ticketMethods", "second factor", "Methods a login ticket can be answered with")
            .security(&["ticket"]).param(ticket_query()).ok("200", "Methods", Some("TicketMethods"))
            .errors(&["401", "429"]).build()),
        ("/api/mfa/challenge", "post", Op::new("sendChallenge", "second factor", "Send an email or SMS code for a ticket")
            .security(&["ticket"]).body("SendChallengeRequest").ok("200", "Code sent", Some("ChallengeSent"))
            .errors(&["400", "401", "422", "429", "502"]).build()),
        ("/api/mfa/verify", "post", Op::new("verify", "second factor", "Answer a ticket with a code; sets the trust cookie when remember_device is true")
            .security(&["ticket"]).body("VerifyRequest").ok("200", "Signed in at AAL2", Some("Tokens"))
            .errors(&["400", "401", "422", "423", "429"]).build()),
        ("/api/mfa/step-up", "post", Op::new("stepUp", "second factor", "A ticket to re-verify a second factor for the current session")
            .security(BEARER).ok("200", "A ticket", Some("LoginResponse"))
            .errors(&["401", "422", "429"]).build()),
        ("/api/mfa/settings", "get", Op::new("settings", "second factor", "The user's factors and MFA settings")
            .security(BEARER).ok("200", "Settings", Some("Settings")).errors(&["401", "429"]).build()),
        ("/api/mfa/totp/enroll", "post", Op::new("enrollTotp", "enrolment", "Start enrolling an authenticator app (bearer token, or enrolment ticket during sign-in)")
            .security(BEARER_OR_TICKET).body("EnrollStartRequest").ok("200", "Secret, otpauth URI and QR code", Some("TotpEnrollment"))
            .errors(&["400", "401", "403", "422", "429"]).build()),
        ("/api/mfa/totp/confirm", "post", Op::new("confirmTotp", "enrolment", "Confirm a pending authenticator app with a code")
            .security(BEARER_OR_TICKET).body("ConfirmRequest").ok("200", "Confirmed; backup codes with the first factor, tokens with a ticket", Some("Confirmed"))
            .errors(&["400", "401", "403", "404", "423", "429"]).build()),
        ("/api/mfa/email/enroll", "post", Op::new("enrollEmail", "enrolment", "Start enrolling an email address (a code is sent)")
            .security(BEARER_OR_TICKET).body("EnrollEmailRequest").ok("200", "Code sent", Some("DestinationEnrollment"))
            .errors(&["400", "401", "403", "422", "429", "502"]).build()),
        ("/api/mfa/email/confirm", "post", Op::new("confirmEmail", "enrolment", "Confirm a pending email address with the code sent to it")
            .security(BEARER_OR_TICKET).body("ConfirmRequest").ok("200", "Confirmed", Some("Confirmed"))
            .errors(&["400", "401", "403", "404", "423", "429"]).build()),
        ("/api/mfa/sms/enroll", "post", Op::new("enrollSms", "enrolment", "Start enrolling a phone number, E.164 (a code is sent by SMS)")
            .security(BEARER_OR_TICKET).body("EnrollSmsRequest").ok("200", "Code sent", Some("DestinationEnrollment"))
            .errors(&["400", "401", "403", "422", "429", "502"]).build()),
        ("/api/mfa/sms/confirm", "post", Op::new("confirmSms", "enrolment", "Confirm a pending phone number with the code sent to it")
            .security(BEARER_OR_TICKET).body("ConfirmRequest").ok("200", "Confirmed", Some("Confirmed"))
            .errors(&["400", "401", "403", "404", "423", "429"]).build()),
        ("/api/mfa/factors/{id}", "delete", Op::new("removeFactor", "enrolment", "Remove one of the user's factors; needs a recent second factor")
            .security(BEARER).param(id_param("Factor id")).ok("204", "Removed", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/api/mfa/factors/{id}", "patch", Op::new("renameFactor", "enrolment", "Rename one of the user's factors; needs a recent second factor")
            .security(BEARER).param(id_param("Factor id")).body("RenameRequest").ok("204", "Renamed", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/api/mfa/backup-codes", "post", Op::new("regenerateBackupCodes", "enrolment", "Replace the backup codes (shown once); needs a recent second factor")
            .security(BEARER).ok("200", "New codes", Some("BackupCodes"))
            .errors(&["401", "403", "422", "429"]).build()),
        ("/api/mfa/passkey/register/start", "post", Op::new("passkeyRegisterStart", "passkeys", "Options for navigator.credentials.create() to register a passkey (bearer token with a recent second factor, or enrolment ticket)")
            .security(BEARER_OR_TICKET).body("EnrollStartRequest").ok("200", "Ceremony and options", Some("PasskeyChallenge"))
            .errors(&["400", "401", "403", "422", "429"]).build()),
        ("/api/mfa/passkey/register/finish", "post", Op::new("passkeyRegisterFinish", "passkeys", "Register the passkey the browser created; backup codes with the first factor, tokens with a ticket")
            .security(BEARER_OR_TICKET).body("PasskeyRegisterFinishRequest").ok("200", "Registered", Some("Confirmed"))
            .errors(&["400", "401", "403", "409", "422", "429"]).build()),
        ("/api/mfa/passkey/options", "post", Op::new("passkeyOptions", "passkeys", "Options for navigator.credentials.get() answering a login or step-up ticket")
            .security(&["ticket"]).body("TicketRequest").ok("200", "Ceremony and options", Some("PasskeyChallenge"))
            .errors(&["400", "401", "422", "429"]).build()),
        ("/api/mfa/passkey/verify", "post", Op::new("passkeyVerify", "passkeys", "Answer a ticket with a passkey assertion; sets the trust cookie when remember_device is true")
            .security(&["ticket"]).body("PasskeyVerifyRequest").ok("200", "Signed in at AAL2", Some("Tokens"))
            .errors(&["400", "401", "422", "423", "429"]).build()),
        ("/api/mfa/passkeys", "get", Op::new("passkeys", "passkeys", "The user's passkeys")
            .security(BEARER).ok("200", "Passkeys", Some("PasskeyList")).errors(&["401", "422", "429"]).build()),
        ("/api/mfa/passkeys/{id}", "delete", Op::new("removePasskey", "passkeys", "Remove a passkey; needs a recent second factor")
            .security(BEARER).param(id_param("Factor id of the passkey")).ok("204", "Removed", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/api/mfa/passkeys/{id}", "patch", Op::new("renamePasskey", "passkeys", "Rename a passkey; needs a recent second factor")
            .security(BEARER).param(id_param("Factor id of the passkey")).body("RenameRequest").ok("204", "Renamed", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/api/passkey/login/options", "post", Op::new("passkeyLoginOptions", "sign-in", "Options for a passwordless sign-in (names no account; mediation conditional)")
            .ok("200", "Ceremony and options", Some("PasskeyChallenge")).errors(&["422", "429"]).build()),
        ("/api/passkey/login", "post", Op::new("passkeyLogin", "sign-in", "Sign in with a passkey alone")
            .body("PasskeyLoginRequest").ok("200", "Signed in, or a ticket for the second factor", Some("LoginResponse"))
            .errors(&["400", "401", "403", "422", "423", "429"]).build()),
        ("/api/mfa/push/enroll/start", "post", Op::new("pushEnrollStart", "push", "A single-use challenge for a phone app to sign with its new device key (bearer token with a recent second factor, or enrolment ticket)")
            .security(BEARER_OR_TICKET).body("EnrollStartRequest").ok("200", "Enrolment id and challenge", Some("PushEnrolmentChallenge"))
            .errors(&["400", "401", "403", "409", "422", "429"]).build()),
        ("/api/mfa/push/enroll/finish", "post", Op::new("pushEnrollFinish", "push", "Enrol the app: its public key, push address, description and the signed challenge; backup codes with the first factor, tokens with a ticket")
            .security(BEARER_OR_TICKET).body("PushEnrolRequest").ok("200", "Enrolled", Some("Confirmed"))
            .errors(&["400", "401", "403", "409", "422", "429"]).build()),
        ("/api/mfa/push", "post", Op::new("pushRequest", "push", "Ask the user's apps to approve the sign-in or step-up of a ticket; show the number in the browser")
            .security(&["ticket"]).body("TicketRequest").ok("200", "The request and the number to show", Some("PushPending"))
            .errors(&["400", "401", "403", "422", "429", "502"]).build()),
        ("/api/mfa/push/devices", "get", Op::new("pushDevices", "push", "The user's push apps")
            .security(BEARER).ok("200", "Apps", Some("PushDeviceList")).errors(&["401", "429"]).build()),
        ("/api/mfa/push/requests/{id}", "get", Op::new("pushPrompt", "push", "What the app shows for a request it was pushed: the sign-in's context and three numbers (the id is the capability)")
            .param(id_param("Push request id")).ok("200", "The prompt", Some("PushPrompt"))
            .errors(&["400", "401", "429"]).build()),
        ("/api/mfa/push/answer", "post", Op::new("pushAnswer", "push", "The app's answer, signed with its device key (push_malformed, push_bad_signature, push_closed, push_stale, push_wrong_number, push_user_verification_required)")
            .body("PushAnswer").ok("200", "Accepted", Some("PushStatus"))
            .errors(&["400", "401", "423", "429"]).build()),
        ("/api/mfa/push/{id}/status", "get", Op::new("pushStatus", "push", "The request's state for the ticket's browser; with wait and since, a long-poll that answers at the first change")
            .security(&["ticket"]).param(id_param("Push request id")).param(ticket_query())
            .param(json!({ "name": "wait", "in": "query", "required": false, "description": "Seconds to wait for a state other than since", "schema": { "type": "integer", "minimum": 0, "maximum": 30 } }))
            .param(json!({ "name": "since", "in": "query", "required": false, "schema": { "$ref": "#/components/schemas/PushState" } }))
            .ok("200", "The state", Some("PushStatus")).errors(&["400", "401", "429"]).build()),
        ("/api/mfa/push/{id}/events", "get", Op::new("pushEvents", "push", "The request's states as Server-Sent Events: event status with data {request, state}, the current state at once and each change; closed after a final state; event error with data {error} ends it")
            .security(&["ticket"]).param(id_param("Push request id")).param(ticket_query())
            .ok("200", "text/event-stream", None).errors(&["400", "401", "429"]).build()),
        ("/api/mfa/push/{id}/complete", "post", Op::new("pushComplete", "push", "Complete the ticket with its approved request; sets the trust cookie when remember_device is true")
            .security(&["ticket"]).param(id_param("Push request id")).body("PushCompleteRequest").ok("200", "Signed in at AAL2", Some("Tokens"))
            .errors(&["400", "401", "409", "422", "423", "429"]).build()),
        ("/api/device/register", "post", Op::new("registerDevice", "devices", "Record or describe the calling device (X-Device-Fingerprint header)")
            .security(BEARER).body("DeviceInput").ok("200", "Known device", Some("RegisteredDevice"))
            .also_ok("201", "Created", Some("RegisteredDevice"))
            .errors(&["400", "401", "429"]).build()),
        ("/api/device/trusted", "get", Op::new("trustedDevices", "devices", "Devices trusted right now")
            .security(BEARER).ok("200", "Devices", Some("DeviceList")).errors(&["401", "429"]).build()),
        ("/api/device/{id}", "delete", Op::new("revokeDevice", "devices", "Stop trusting a device")
            .security(BEARER).param(id_param("Device id")).ok("204", "Trust revoked", None)
            .errors(&["400", "401", "404", "429"]).build()),
        ("/api/sessions", "get", Op::new("sessions", "sessions", "Live sessions, newest first")
            .security(BEARER).ok("200", "Sessions", Some("SessionList")).errors(&["401", "429"]).build()),
        ("/api/sessions/{id}", "delete", Op::new("revokeSession", "sessions", "Sign a session out")
            .security(BEARER).param(id_param("Session id")).ok("204", "Signed out", None)
            .errors(&["400", "401", "404", "429"]).build()),
        ("/api/user/profile", "get", Op::new("profile", "account", "The signed-in user")
            .security(BEARER).ok("200", "Profile", Some("Profile")).errors(&["401", "429"]).build()),
        ("/api/audit", "get", Op::new("audit", "account", "The user's own audit events, newest first")
            .security(BEARER)
            .param(json!({ "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } }))
            .param(json!({ "name": "cursor", "in": "query", "required": false, "description": "next_cursor of the previous page", "schema": { "type": "string" } }))
            .ok("200", "A page of events", Some("AuditPage")).errors(&["400", "401", "429"]).build()),
        ("/api/user/password", "post", Op::new("changePassword", "account", "Replace the password (the current one proves it is the user, and a wrong one counts toward the password lock as at sign-in); every other session and all device trust end")
            .security(BEARER).body("PasswordChangeRequest").ok("204", "Changed", None)
            .errors(&["400", "401", "423", "429"]).build()),
        ("/api/password/forgot", "post", Op::new("forgotPassword", "recovery", "Send a password reset link to the account's verified email address; 202 whether or not the identifier names an account")
            .body("ForgotPasswordRequest").ok("202", "Accepted", None)
            .errors(&["400", "422", "429"]).build()),
        ("/api/password/reset", "post", Op::new("resetPassword", "recovery", "Set a new password with a reset link's token; every session and device trust end; signs nobody in (the second factor stays)")
            .body("ResetPasswordRequest").ok("204", "Password set", None)
            .errors(&["400", "401", "429"]).build()),
        ("/api/user/email/verification", "post", Op::new("sendEmailVerification", "recovery", "Send the signed-in user a link proving their email address")
            .security(BEARER).ok("200", "Sent", Some("VerificationSent"))
            .errors(&["400", "401", "409", "422", "429", "502"]).build()),
        ("/api/email/verify", "post", Op::new("verifyEmail", "recovery", "Prove the account's email address with a verification link's token")
            .body("VerifyEmailRequest").ok("204", "Verified", None)
            .errors(&["400", "401", "429"]).build()),
        ("/api/user/export", "get", Op::new("exportMyData", "account", "Everything held about the user as a JSON download (GDPR art. 15/20; no secrets); a user with a second factor needs an AAL2 session")
            .security(BEARER).ok("200", "The export", Some("UserExport")).errors(&["401", "403", "429"]).build()),
        ("/api/user", "delete", Op::new("deleteAccount", "account", "Delete the user's own account with the password (a wrong one counts toward the password lock as at sign-in; and a recent second factor when one is enrolled); every session ends")
            .security(BEARER).body("DeleteAccountRequest").ok("204", "Deleted", None)
            .errors(&["400", "401", "403", "423", "429"]).build()),
        ("/api/devices", "get", Op::new("devices", "devices", "Every device the user signed in from, most recently seen first")
            .security(BEARER).ok("200", "Devices", Some("DeviceList")).errors(&["401", "429"]).build()),
        ("/api/device/{id}/compromised", "post", Op::new("deviceCompromised", "devices", "Report a device lost or stolen: its trust and sessions end, sign-ins from it are refused")
            .security(BEARER).param(id_param("Device id")).ok("204", "Marked", None)
            .errors(&["400", "401", "404", "429"]).build()),
        ("/api/device/revoke-all", "post", Op::new("revokeAllDevices", "devices", "Stop trusting every device of the user")
            .security(BEARER).ok("200", "How many were trusted", Some("Revoked")).errors(&["401", "429"]).build()),
        ("/api/sessions/revoke-others", "post", Op::new("revokeOtherSessions", "sessions", "Sign out every session of the user but this one")
            .security(BEARER).ok("200", "How many ended", Some("Revoked")).errors(&["401", "429"]).build()),
        ("/admin/users/{id}", "get", Op::new("adminUser", "admin", "An account, its locks, MFA settings and factors (no secrets)")
            .security(SERVICE).param(id_param("User id")).ok("200", "The account", Some("AdminUser"))
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/export", "get", Op::new("adminExport", "admin", "Everything held about an account as a JSON download (no secrets); audited with the key's name")
            .security(SERVICE).param(id_param("User id")).ok("200", "The export", Some("UserExport"))
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}", "delete", Op::new("adminDeleteUser", "admin", "Delete an account (soft; purged after the retention period) and end its sessions")
            .security(SERVICE).param(id_param("User id")).ok("204", "Deleted", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/erase", "post", Op::new("adminErase", "admin", "Erase what the audit log holds about a deleted account (GDPR): the user id, IP address, user agent and country of its events are emptied; the chains stay verifiable")
            .security(SERVICE).param(id_param("User id")).ok("200", "How many events were erased, and how many (linked before erasure existed) were kept", Some("Erasure"))
            .errors(&["400", "401", "403", "409", "429"]).build()),
        ("/admin/users/{id}/reset-mfa", "post", Op::new("adminResetMfa", "admin", "Remove every factor, backup code, device trust and session of an account")
            .security(SERVICE).param(id_param("User id")).ok("204", "Reset", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/unlock", "post", Op::new("adminUnlock", "admin", "Lift the password and second-factor locks of an account")
            .security(SERVICE).param(id_param("User id")).ok("204", "Unlocked", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/enforcement", "put", Op::new("adminEnforcement", "admin", "Start or stop MFA enforcement for an account, with a grace period to enrol")
            .security(SERVICE).param(id_param("User id")).body("EnforcementRequest").ok("200", "The enforcement now", Some("Enforcement"))
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/disable", "post", Op::new("adminDisable", "admin", "Disable an account: no sign-in, sessions and device trust end at once")
            .security(SERVICE).param(id_param("User id")).ok("204", "Disabled", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/enable", "post", Op::new("adminEnable", "admin", "Enable a disabled account")
            .security(SERVICE).param(id_param("User id")).ok("204", "Enabled", None)
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/sessions/revoke", "post", Op::new("adminRevokeSessions", "admin", "End every session of an account")
            .security(SERVICE).param(id_param("User id")).ok("200", "How many ended", Some("Revoked"))
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/users/{id}/devices/revoke", "post", Op::new("adminRevokeDevices", "admin", "Stop trusting every device of an account")
            .security(SERVICE).param(id_param("User id")).ok("200", "How many were trusted", Some("Revoked"))
            .errors(&["400", "401", "403", "404", "429"]).build()),
        ("/admin/locked", "get", Op::new("adminLocked", "admin", "Accounts locked now by their password or second-factor failures (a lock in force or the hard cap), in id order")
            .security(SERVICE)
            .param(json!({ "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }))
            .param(json!({ "name": "after", "in": "query", "required": false, "description": "next_after of the previous page", "schema": { "type": "string", "format": "uuid" } }))
            .ok("200", "A page of locked accounts", Some("LockedPage")).errors(&["400", "401", "403", "429"]).build()),
        ("/admin/audit", "get", Op::new("adminAudit", "admin", "The audit log of every account, newest first, filtered")
            .security(SERVICE)
            .param(json!({ "name": "user", "in": "query", "required": false, "schema": { "type": "string", "format": "uuid" } }))
            .param(json!({ "name": "kind", "in": "query", "required": false, "description": "Audit kinds, separated by commas", "schema": { "type": "string" } }))
            .param(json!({ "name": "outcome", "in": "query", "required": false, "schema": { "type": "string", "enum": ["success", "failure"] } }))
            .param(json!({ "name": "from", "in": "query", "required": false, "description": "At or after (RFC 3339)", "schema": { "type": "string", "format": "date-time" } }))
            .param(json!({ "name": "to", "in": "query", "required": false, "description": "Before (RFC 3339)", "schema": { "type": "string", "format": "date-time" } }))
            .param(json!({ "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }))
            .param(json!({ "name": "cursor", "in": "query", "required": false, "description": "next_cursor of the previous page", "schema": { "type": "string" } }))
            .ok("200", "A page of events", Some("AuditPage")).errors(&["400", "401", "403", "429"]).build()),
        ("/admin/gateway/sign-in", "post", Op::new("gatewaySignIn", "admin", "The gateway checked the password and vouches for it: sign in as POST /api/login answers (tokens, or a ticket for the second factor or enrolment)")
            .security(SERVICE).body("GatewaySignInRequest").ok("200", "Signed in, or a ticket for the second factor or enrolment", Some("LoginResponse"))
            .errors(&["400", "401", "403", "429"]).build()),
    ]
}

fn obj(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

/// Every schema of the document: those derived from the routes' types and
/// the one written here.
fn all_schemas() -> Value {
    let mut all = crate::routes::derived_schemas();
    if let Value::Object(written) = schemas() {
        all.extend(written);
    }
    Value::Object(all)
}

/// The schemas written here: the push answer, which mfa-core parses field
/// by field (`SignedPushAnswer::parse`) from no serde type.
fn schemas() -> Value {
    let uuid = json!({ "type": "string", "format": "uuid" });
    json!({
        "PushAnswer": obj(&["request", "number", "decision", "at", "user_verified", "signature"], json!({
            "request": uuid, "number": { "type": "integer", "minimum": 10, "maximum": 99 },
            "decision": { "$ref": "#/components/schemas/PushDecision" },
            "at": { "type": "integer", "description": "Unix seconds when the app signed" },
            "user_verified": { "type": "boolean" },
            "signature": { "type": "string", "description": "base64url over the \"mfa-rs push answer v1\" text of the other fields" }
        })),
    })
}

/// The OpenAPI document of the MFA routes (the passkey routes with the
/// `passkeys` feature).
#[must_use]
pub fn document() -> Value {
    let mut paths = Map::new();
    let served = |path: &str| cfg!(feature = "passkeys") || !path.contains("passkey");
    for (path, method, op) in operations().into_iter().filter(|(p, ..)| served(p)) {
        let entry = paths
            .entry(path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(method.to_owned(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mfa-rs MFA API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Multi-factor sign-in over HTTP: password, TOTP, email codes, backup codes, passkeys, push approval, trusted devices, sessions. Errors are {\"error\", \"message\", \"retry_after\"} with a Retry-After header where it applies.",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" }
        },
        "servers": [ { "url": "/" } ],
        "paths": paths,
        "components": {
            "schemas": all_schemas(),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "ticket": { "type": "apiKey", "in": "header", "name": "X-MFA-Ticket" },
                "serviceKey": { "type": "http", "scheme": "bearer", "description": "A service key (mfa_sk_…) with the admin or gateway scope" }
            }
        }
    })
}

/// Every documented (method, path) pair, upper-case method, sorted.
#[must_use]
pub fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys() {
                    out.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one request body written here: mfa-core parses a push answer
    /// field by field (`SignedPushAnswer::parse`), from no serde type.
    const WRITTEN_BODIES: &[&str] = &["PushAnswer"];

    #[test]
    fn request_bodies_are_derived_from_their_types() {
        let derived = crate::routes::derived_schemas();
        let doc = document();
        let mut bodies = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let Some(reference) =
                    op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
                else {
                    continue;
                };
                bodies += 1;
                let name = reference.trim_start_matches("#/components/schemas/");
                assert!(
                    derived.contains_key(name) || WRITTEN_BODIES.contains(&name),
                    "{method} {path}: {name} is not derived from a type"
                );
            }
        }
        assert!(bodies >= 26, "{bodies} request bodies");
    }

    /// The answers written here rather than derived: none may be added.
    const WRITTEN_ANSWERS: &[&str] = &[];

    #[test]
    fn answers_are_derived_from_their_types_but_the_listed_ones() {
        let derived = crate::routes::derived_schemas();
        let doc = document();
        let mut written = std::collections::BTreeSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("path item").values() {
                for answer in op["responses"].as_object().expect("responses").values() {
                    let Some(reference) =
                        answer["content"]["application/json"]["schema"]["$ref"].as_str()
                    else {
                        continue;
                    };
                    let name = reference.trim_start_matches("#/components/schemas/");
                    if !derived.contains_key(name) {
                        written.insert(name.to_owned());
                    }
                }
            }
        }
        let listed: std::collections::BTreeSet<String> =
            WRITTEN_ANSWERS.iter().map(|n| (*n).to_owned()).collect();
        assert_eq!(written, listed, "answers written here, not derived");
    }

    /// Two types deriving one schema name would overwrite each other.
    #[test]
    fn each_derived_name_is_one_schema() {
        let mut seen: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
        for (name, schema) in crate::routes::derived_schema_list() {
            if let Some(before) = seen.insert(name.clone(), schema.clone()) {
                assert_eq!(before, schema, "two types derive the schema {name}");
            }
        }
    }

    #[test]
    fn no_schema_is_both_derived_and_written() {
        let derived = crate::routes::derived_schemas();
        let Value::Object(written) = schemas() else {
            panic!("schemas() is an object");
        };
        for name in written.keys() {
            assert!(!derived.contains_key(name), "{name} is derived and written");
        }
    }

    /// What the derivation makes of a type's serde attributes: an
    /// `Option` is nullable and not required, `deny_unknown_fields` is
    /// `additionalProperties: false`, a model enum is its wire names.
    #[test]
    fn a_derived_schema_follows_its_type() {
        let derived = crate::routes::derived_schemas();
        let signup = &derived["SignupRequest"];
        assert_eq!(signup["required"], json!(["identifier", "password"]));
        assert_eq!(signup["additionalProperties"], json!(false));
        assert_eq!(
            signup["properties"]["email"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(signup["properties"]["password"]["minLength"], json!(8));
        let verify = &derived["VerifyRequest"];
        assert_eq!(verify["required"], json!(["method", "code"]));
        assert_eq!(
            verify["properties"]["method"]["$ref"],
            json!("#/components/schemas/FactorKind")
        );
        let mut kinds: Vec<String> = derived["FactorKind"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|k| k.as_str().expect("a name").to_owned())
            .collect();
        kinds.sort();
        let mut expected: Vec<String> = mfa_core::model::FactorKind::ALL
            .iter()
            .map(|k| serde_json::to_value(k).expect("json"))
            .map(|k| k.as_str().expect("a wire name").to_owned())
            .collect();
        expected.sort();
        assert_eq!(kinds, expected);
        assert_eq!(
            derived["TokensView"]["properties"]["token_type"]["enum"],
            json!(["Bearer"])
        );
        assert_eq!(
            derived["AuditLink"]["properties"]["seq"]["minimum"],
            json!(1)
        );
        // An id is one named schema, a uuid string, which fields refer to.
        assert_eq!(
            derived["TokensView"]["properties"]["session_id"]["$ref"],
            json!("#/components/schemas/SessionId")
        );
        assert_eq!(derived["SessionId"]["type"], json!("string"));
        assert_eq!(derived["SessionId"]["format"], json!("uuid"));
    }
}
