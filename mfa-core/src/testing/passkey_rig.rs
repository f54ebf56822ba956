//! The relying party's answer checks on their own, for fuzzing and
//! benchmarks: one registration and one authentication ceremony whose
//! state is kept, so any number of answers can be checked against them
//! without a store (a real ceremony is single use; here nothing is taken).
//!
//! The checks are the engine's: the browser's JSON parsed as the engine
//! parses it (size cap included), the same relying party, and
//! `webauthn-rs`'s refusals mapped to the same [`PasskeyError`]s.

use crate::PasskeyError;
use crate::model::UserId;
use crate::passkey::{AssertionResponse, AttestationResponse, PasskeyConfig, RelyingParty};
use crate::testing::authenticator::SoftAuthenticator;
use std::fmt;
use webauthn_rs::prelude::{PasskeyAuthentication, PasskeyRegistration};

/// A relying party with one open registration and one open authentication,
/// and a genuine answer to each.
pub struct PasskeyRig {
    rp: RelyingParty,
    registration: PasskeyRegistration,
    authentication: PasskeyAuthentication,
    /// A genuine answer to the registration (`create()`).
    pub attestation: serde_json::Value,
    /// A genuine answer to the authentication (`get()`).
    pub assertion: serde_json::Value,
}

impl fmt::Debug for PasskeyRig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRig").finish_non_exhaustive()
    }
}

impl PasskeyRig {
    /// The rig for relying party `app.example.com` (origin
    /// `https://app.example.com`): a software authenticator registers one
    /// passkey, then answers a second registration and an authentication,
    /// whose answers are kept.
    ///
    /// # Panics
    /// When the software authenticator and the relying party disagree (a
    /// bug in either).
    pub async fn new() -> Self {
        const ORIGIN: &str = "https://app.example.com";
        let rp = RelyingParty::new(&PasskeyConfig::new("app.example.com", "Rig", ORIGIN))
            .expect("the rig's relying party");
        let user = UserId::new();
        let mut authenticator = SoftAuthenticator::new(ORIGIN);
        let (options, state) = rp
            .start_registration(user, "rig", Vec::new())
            .expect("registration options");
        let created = authenticator.register(&options).await.expect("create");
        let created = AttestationResponse::from_json(&created.to_string()).expect("parses");
        let (passkey, _) = rp
            .finish_registration(&created, &state)
            .expect("the genuine registration verifies");
        let (options, authentication) = rp
            .start_authentication(std::slice::from_ref(&passkey))
            .expect("authentication options");
        let assertion = authenticator.authenticate(&options).await.expect("get");
        let (options, registration) = rp
            .start_registration(user, "rig", Vec::new())
            .expect("registration options");
        let attestation = SoftAuthenticator::new(ORIGIN)
            .register(&options)
            .await
            .expect("create");
        Self {
            rp,
            registration,
            authentication,
            attestation,
            assertion,
        }
    }

    /// Checks `json` as the answer to the registration.
    ///
    /// # Errors
    /// Why the relying party refuses it.
    pub fn check_attestation(&self, json: &str) -> Result<(), PasskeyError> {
        let response = AttestationResponse::from_json(json)?;
        self.rp
            .finish_registration(&response, &self.registration)
            .map(drop)
    }

    /// Checks `json` as the answer to the authentication.
    ///
    /// # Errors
    /// Why the relying party refuses it.
    pub fn check_assertion(&self, json: &str) -> Result<(), PasskeyError> {
        let response = AssertionResponse::from_json(json)?;
        self.rp
            .finish_authentication(&response, &self.authentication)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn genuine_answers_pass_and_changed_ones_do_not() {
        let rig = PasskeyRig::new().await;
        assert_eq!(rig.check_assertion(&rig.assertion.to_string()), Ok(()));
        assert_eq!(rig.check_attestation(&rig.attestation.to_string()), Ok(()));
        let mut changed = rig.assertion.clone();
        changed["response"]["signature"] = "AAAA".into();
        assert!(rig.check_assertion(&changed.to_string()).is_err());
        assert_eq!(rig.check_attestation("{}"), Err(PasskeyError::Malformed));
    }
}
