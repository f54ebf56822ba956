//! `cargo run -p mfa-quickstart`: the whole mfa-rs sign-in flow on the
//! memory store, one printed step at a time.
//!
//! Sign-up, a password-only sign-in, enrolling an authenticator app (with
//! backup codes), a sign-in that needs the second factor, "remember this
//! device", a sign-in on the remembered device, a step-up, a backup code,
//! refresh-token rotation with reuse detection, and the audit trail.
#![forbid(unsafe_code)]

use chrono::TimeDelta;
use mfa_core::clock::{Clock, ManualClock};
use mfa_core::crypto::{ExposeSecret, JwtConfig, JwtKeys, KeyRing, SecretString, Totp, TotpSecret};
use mfa_core::model::{Contact, FactorKind, TotpParams};
use mfa_core::store::{AuditFilter, PageRequest};
use mfa_core::{Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser, VerifyRequest};
use mfa_store_memory::MemoryStore;
use std::error::Error;
use std::sync::Arc;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title}");
}

/// The code an authenticator app shows for `secret` at the clock's time.
fn app_code(secret: &SecretString, clock: &ManualClock) -> Result<String> {
    let totp = Totp::new(
        TotpSecret::from_base32(secret.expose_secret())?,
        TotpParams::default(),
        "quickstart",
        "alice",
    )?;
    Ok(totp
        .generate_at(clock.now().timestamp())?
        .expose()
        .to_owned())
}

fn describe(outcome: &LoginOutcome) -> String {
    match outcome {
        LoginOutcome::Authenticated(t) => format!(
            "signed in: session {}, {:?}, methods {:?}",
            t.session_id, t.aal, t.amr
        ),
        LoginOutcome::MfaRequired { methods, .. } => {
            format!("second factor required; methods offered: {methods:?}")
        }
        LoginOutcome::EnrollmentRequired { can_skip, .. } => {
            format!("enrolment required (can skip: {can_skip})")
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // A manual clock lets the walk-through move time forward instead of
    // waiting for the next 30-second TOTP step.
    let clock = Arc::new(ManualClock::default());
    let mfa = Mfa::builder()
        .store(Arc::new(MemoryStore::new()))
        .keys(KeyRing::generate())
        .tokens(
            JwtConfig::new("https://auth.example", "quickstart"),
            JwtKeys::generate_ed25519("k1")?,
        )
        .clock(clock.clone())
        .build()?;
    println!("mfa-rs quickstart: the whole sign-in flow on the memory store");

    step(1, "Sign up");
    let password = SecretString::from("correct horse battery staple");
    let user = mfa
        .create_user(NewUser {
            identifier: "alice@example.com".into(),
            password: Some(password.clone()),
            contact: Contact::default(),
        })
        .await?;
    println!("created user {} ({})", user.identifier, user.id);

    let laptop = ClientInfo {
        ip: Some([192u8, 0, 2, 10].into()),
        user_agent: Some("quickstart/1.0".into()),
        fingerprint: Some("laptop-fingerprint".into()),
        ..ClientInfo::default()
    };
    let login = |client: ClientInfo| LoginRequest {
        identifier: "alice@example.com".into(),
        password: password.clone(),
        client,
    };

    step(
        2,
        "Sign in with the password only (no second factor enrolled yet)",
    );
    let outcome = mfa.login(login(laptop.clone())).await?;
    println!("{}", describe(&outcome));
    let LoginOutcome::Authenticated(tokens) = outcome else {
        return Err("expected a password-only sign-in".into());
    };
    let claims = mfa.authenticate(&tokens.access_token).await?;
    println!(
        "access token verified: user {}, {:?}",
        claims.sub, claims.aal
    );

    step(3, "Enrol an authenticator app");
    let enrollment = mfa
        .enroll_totp(Actor::Session(&claims), Some("phone"))
        .await?;
    println!(
        "secret for manual entry: {}",
        enrollment.secret.expose_secret()
    );
    println!("otpauth URI: {}", enrollment.otpauth_uri.expose_secret());
    println!(
        "QR code: an SVG of {} bytes (shown by the web demo)",
        enrollment.qr_svg.expose_secret().len()
    );
    let code = app_code(&enrollment.secret, &clock)?;
    let enrolled = mfa
        .confirm_factor(
            Actor::Session(&claims),
            enrollment.factor_id,
            &code,
            &laptop,
        )
        .await?;
    let backup: Vec<String> = enrolled
        .backup_codes
        .map(|b| {
            b.codes
                .iter()
                .map(|c| c.expose_secret().to_owned())
                .collect()
        })
        .unwrap_or_default();
    println!(
        "confirmed with code {code}; {} backup codes, shown once:",
        backup.len()
    );
    for c in &backup {
        println!("  {c}");
    }

    step(4, "Sign in again: now the second factor is required");
    let outcome = mfa.login(login(laptop.clone())).await?;
    println!("{}", describe(&outcome));
    let LoginOutcome::MfaRequired { ticket, .. } = outcome else {
        return Err("expected a second-factor challenge".into());
    };
    clock.advance(TimeDelta::seconds(30)); // the enrolment code's step is spent
    let code = app_code(&enrollment.secret, &clock)?;
    let verified = mfa
        .verify(VerifyRequest {
            ticket: &ticket,
            method: FactorKind::Totp,
            code: &code,
            remember_device: true,
            client: &laptop,
        })
        .await?;
    println!(
        "verified TOTP {code} with \"remember this device\": {:?}, methods {:?}, trust token issued: {}",
        verified.tokens.aal,
        verified.tokens.amr,
        verified.tokens.trust_token.is_some()
    );

    step(5, "Sign in on the remembered device: no code needed");
    let remembered = ClientInfo {
        trust_token: verified.tokens.trust_token.clone(),
        ..laptop.clone()
    };
    let outcome = mfa.login(login(remembered)).await?;
    println!("{}", describe(&outcome));
    let LoginOutcome::Authenticated(device_tokens) = outcome else {
        return Err("expected the remembered device to skip the code".into());
    };

    step(
        6,
        "A sensitive operation needs a recent second factor (step-up)",
    );
    let device_claims = mfa.authenticate(&device_tokens.access_token).await?;
    match mfa.require_recent_mfa(&device_claims, TimeDelta::minutes(5)) {
        Err(e) => println!("refused on the remembered-device session: {}", e.code()),
        Ok(()) => println!("unexpectedly allowed"),
    }
    let LoginOutcome::MfaRequired { ticket, .. } = mfa.begin_step_up(&device_claims).await? else {
        return Err("expected a step-up ticket".into());
    };
    clock.advance(TimeDelta::seconds(30));
    let stepped = mfa
        .verify(VerifyRequest {
            ticket: &ticket,
            method: FactorKind::Totp,
            code: &app_code(&enrollment.secret, &clock)?,
            remember_device: false,
            client: &laptop,
        })
        .await?;
    let stepped_claims = mfa.authenticate(&stepped.tokens.access_token).await?;
    mfa.require_recent_mfa(&stepped_claims, TimeDelta::minutes(5))?;
    println!(
        "step-up verified: new session {} at {:?}",
        stepped.tokens.session_id, stepped.tokens.aal
    );

    step(7, "Lost phone: sign in on a new device with a backup code");
    let phone = ClientInfo {
        ip: Some([198u8, 51, 100, 7].into()),
        fingerprint: Some("borrowed-phone".into()),
        ..ClientInfo::default()
    };
    let LoginOutcome::MfaRequired { ticket, .. } = mfa.login(login(phone.clone())).await? else {
        return Err("expected a second-factor challenge on a new device".into());
    };
    let first_backup = backup.first().ok_or("no backup codes")?;
    let verified = mfa
        .verify(VerifyRequest {
            ticket: &ticket,
            method: FactorKind::BackupCodes,
            code: first_backup,
            remember_device: false,
            client: &phone,
        })
        .await?;
    println!(
        "backup code accepted; {} left",
        verified.backup_codes_remaining.unwrap_or_default()
    );

    step(8, "Refresh tokens rotate; a replayed one ends the session");
    let rotated = mfa.refresh(&verified.tokens.refresh_token, &phone).await?;
    println!("refreshed: session {} continues", rotated.session_id);
    match mfa.refresh(&verified.tokens.refresh_token, &phone).await {
        Err(e) => println!("old refresh token presented again: {}", e.code()),
        Ok(_) => println!("unexpectedly accepted"),
    }

    step(9, "Where am I signed in?");
    for view in mfa.sessions(user.id).await? {
        println!(
            "  session {} {:?} {:?} from {}",
            view.session.id,
            view.session.aal,
            view.session.amr,
            view.session.ip.as_deref().unwrap_or("?")
        );
    }
    for device in mfa.trusted_devices(user.id).await? {
        println!(
            "  trusted device {} until {:?}",
            device.id, device.trusted_until
        );
    }

    step(10, "The audit trail, oldest first");
    let filter = AuditFilter {
        user_id: Some(user.id),
        ..AuditFilter::default()
    };
    let page = mfa.audit_events(&filter, &PageRequest::first(50)).await?;
    for event in page.items.iter().rev() {
        println!(
            "  {} {:<24} {:?}",
            event.at.format("%H:%M:%S"),
            event.kind.as_str(),
            event.outcome
        );
    }
    println!("\nDone.");
    Ok(())
}
