//! A phone app for push approval tests: it holds a device key made on the
//! spot, proves possession at enrolment and signs answers the way a real
//! app does ([`crate::crypto::push`]).

use crate::crypto::push::{
    DeviceKeyAlgorithm, DevicePublicKey, PushAnswer, PushDecision, SignedPushAnswer,
    enrolment_message,
};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use uuid::Uuid;

enum DeviceKey {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
}

/// A test app holding one device key.
pub struct TestPushApp {
    key: DeviceKey,
    public: DevicePublicKey,
}

impl std::fmt::Debug for TestPushApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TestPushApp").field(&self.public).finish()
    }
}

impl TestPushApp {
    /// An app with a fresh Ed25519 key.
    ///
    /// # Panics
    /// If the system random generator fails.
    #[must_use]
    pub fn ed25519() -> Self {
        let pair = Ed25519KeyPair::generate().expect("an Ed25519 key is generated");
        let public = DevicePublicKey::new(DeviceKeyAlgorithm::Ed25519, pair.public_key().as_ref())
            .expect("a generated key is valid");
        Self {
            key: DeviceKey::Ed25519(pair),
            public,
        }
    }

    /// An app with a fresh ECDSA P-256 key (what platform keystores make).
    ///
    /// # Panics
    /// If the system random generator fails.
    #[must_use]
    pub fn p256() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .expect("a P-256 key is generated");
        let public = DevicePublicKey::new(DeviceKeyAlgorithm::P256, pair.public_key().as_ref())
            .expect("a generated key is valid");
        Self {
            key: DeviceKey::P256(pair),
            public,
        }
    }

    /// The public key the app enrols.
    #[must_use]
    pub fn public_key(&self) -> &DevicePublicKey {
        &self.public
    }

    /// Signs `message` with the device key.
    ///
    /// # Panics
    /// If ECDSA signing fails (the system random generator failed).
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            DeviceKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            DeviceKey::P256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
        }
    }

    /// The proof of possession for the enrolment `challenge`.
    #[must_use]
    pub fn prove(&self, challenge: &str) -> Vec<u8> {
        self.sign(&enrolment_message(challenge, &self.public))
    }

    /// The signed answer to `request`: `number` picked, `decision` taken at
    /// `at` (Unix seconds), the key unlocked by the user when
    /// `user_verified`.
    #[must_use]
    pub fn answer(
        &self,
        request: Uuid,
        number: u8,
        decision: PushDecision,
        at: i64,
        user_verified: bool,
    ) -> SignedPushAnswer {
        let answer = PushAnswer {
            request,
            number,
            decision,
            at,
            user_verified,
        };
        SignedPushAnswer::sign(answer, |m| self.sign(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_app_signs_what_the_engine_verifies() {
        for app in [TestPushApp::ed25519(), TestPushApp::p256()] {
            let signed = app.answer(Uuid::new_v4(), 17, PushDecision::Approve, 1, true);
            let parsed = SignedPushAnswer::from_json(&signed.to_json()).unwrap();
            assert_eq!(parsed.verify(app.public_key()).unwrap().number, 17);
            let proof = app.prove("c");
            assert!(
                app.public_key()
                    .verify(&enrolment_message("c", app.public_key()), &proof)
                    .is_ok()
            );
        }
    }
}
