//! The engine with a real transport: email-OTP sign-in through SMTP to a
//! local aiosmtpd.
#![cfg(feature = "smtp")]

mod support;

use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing, PasswordHasher, SecretString};
use mfa_core::model::{Aal, Contact, FactorKind, OtpChannel};
use mfa_core::policy::Policy;
use mfa_core::{Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser, VerifyRequest};
use mfa_delivery::retry::RetryPolicy;
use mfa_delivery::smtp::{SmtpChannel, SmtpConfig, SmtpSecurity};
use mfa_store_memory::MemoryStore;
use std::sync::Arc;
use std::time::Duration;
use support::SmtpServer;

#[tokio::test]
async fn user_signs_in_with_an_email_code_delivered_over_smtp() {
    let Some(server) =
        SmtpServer::start("user_signs_in_with_an_email_code_delivered_over_smtp", None)
    else {
        return;
    };
    let mut smtp = SmtpConfig::new("127.0.0.1", "Acme <security@acme.example>");
    smtp.port = Some(server.port);
    smtp.security = SmtpSecurity::Plain;
    smtp.timeout = Duration::from_secs(5);
    smtp.retry = RetryPolicy::none();
    let email = Arc::new(SmtpChannel::new(smtp).unwrap());

    let mut policy = Policy::default();
    policy.methods.email = true;
    let mfa = Mfa::builder()
        .store(Arc::new(MemoryStore::new()))
        .keys(KeyRing::generate())
        .tokens(
            JwtConfig::new("https://auth.example", "api"),
            JwtKeys::generate_ed25519("k1").unwrap(),
        )
        .policy(policy)
        .password_hasher(PasswordHasher::insecure_fast_for_tests())
        .email(email)
        .build()
        .unwrap();

    let password = SecretString::from("correct horse battery staple");
    mfa.create_user(NewUser {
        identifier: "alice@example.com".into(),
        password: Some(password.clone()),
        contact: Contact::default(),
    })
    .await
    .unwrap();
    let client = ClientInfo {
        ip: Some([192u8, 0, 2, 10].into()),
        ..ClientInfo::default()
    };
    let login = || LoginRequest {
        identifier: "alice@example.com".into(),
        password: password.clone(),
        client: client.clone(),
    };

    // Password only at first; then enrol email, confirmed with the mailed code.
    let LoginOutcome::Authenticated(tokens) = mfa.login(login()).await.unwrap() else {
        panic!("first sign-in should not need a second factor");
    };
    let claims = mfa.authenticate(&tokens.access_token).await.unwrap();
    let pending = mfa
        .enroll_email(Actor::Session(&claims), "alice@example.com")
        .await
        .unwrap();
    let mails = server.messages();
    let enrolment_mail = mails.last().expect("enrolment code mailed");
    assert_eq!(enrolment_mail.header("To"), "alice@example.com");
    mfa.confirm_factor(
        Actor::Session(&claims),
        pending.factor_id,
        &enrolment_mail.code(),
        &client,
    )
    .await
    .unwrap();

    // Now the password alone is not enough.
    let LoginOutcome::MfaRequired {
        ticket, methods, ..
    } = mfa.login(login()).await.unwrap()
    else {
        panic!("second sign-in should require a second factor");
    };
    assert!(methods.contains(&FactorKind::Email));
    let before = server.messages().len();
    let sent = mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .unwrap();
    assert_eq!(sent.masked_destination, "a***@example.com");
    let mails = server.messages();
    assert_eq!(mails.len(), before + 1);
    let code = mails.last().unwrap().code();
    assert!(mails.last().unwrap().part("text/plain").contains(&code));

    let verified = mfa
        .verify(VerifyRequest {
            ticket: &ticket,
            method: FactorKind::Email,
            code: &code,
            remember_device: false,
            client: &client,
        })
        .await
        .unwrap();
    assert_eq!(verified.tokens.aal, Aal::Aal2);
    let claims = mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(claims.aal, Aal::Aal2);
}
