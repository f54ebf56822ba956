//! Password hashing with argon2id.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
//! that record the algorithm and parameters, with a fresh 16-byte salt from
//! the CSPRNG. Parameters below the ASVS 5.0 Appendix C floor cannot be
//! configured (R44); a hash made with other parameters than the configured
//! ones verifies and reports `needs_rehash`, so the caller re-hashes after a
//! successful login.
//!
//! Passwords are limited to 1024 bytes and must not be empty; both are
//! checked before any hashing work.

use super::secret::{ExposeSecret, SecretString};
use super::{CryptoError, Result};
use argon2::password_hash::Error as PhcError;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier, Version};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Longest password accepted, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Salt length in bytes.
pub const SALT_LEN: usize = 16;

/// Output (tag) length in bytes.
const OUTPUT_LEN: usize = 32;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Argon2Params {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Passes over memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// The OWASP headline setting: m = 19456 KiB (19 MiB), t = 2, p = 1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Checks the parameters against ASVS 5.0 Appendix C: t = 1 needs
    /// m ≥ 47104 KiB, t = 2 needs m ≥ 19456 KiB, t ≥ 3 needs m ≥ 12288 KiB;
    /// p ≥ 1.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] naming the violated bound.
    pub fn validate(&self) -> Result<()> {
        if self.parallelism < 1 {
            return Err(CryptoError::InvalidParameter(
                "argon2 parallelism must be at least 1",
            ));
        }
        let min_memory = match self.iterations {
            0 => {
                return Err(CryptoError::InvalidParameter(
                    "argon2 iterations must be at least 1",
                ));
            }
            1 => 47_104,
            2 => 19_456,
            _ => 12_288,
        };
        if self.memory_kib < min_memory {
            return Err(CryptoError::InvalidParameter(
                "argon2 memory below the ASVS 5.0 minimum for this iteration count",
            ));
        }
        self.to_argon2().map(|_| ())
    }

    fn to_argon2(self) -> Result<Params> {
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(|_| CryptoError::InvalidParameter("argon2 parameters rejected"))
    }
}

/// Outcome of [`PasswordHasher::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password matches.
    Valid {
        /// The stored hash uses other parameters (or another argon2 variant)
        /// than configured: re-hash the password and store the new hash.
        needs_rehash: bool,
    },
    /// The password does not match.
    Invalid,
}

/// Hashes and verifies passwords with fixed, validated argon2id parameters.
#[derive(Debug)]
pub struct PasswordHasher {
    params: Argon2Params,
    argon2_params: Params,
    dummy_hash: OnceLock<Option<String>>,
}

fn check_length(password: &SecretString) -> Result<&[u8]> {
    let bytes = password.expose_secret().as_bytes();
    if bytes.is_empty() {
        return Err(CryptoError::PasswordEmpty);
    }
    if bytes.len() > MAX_PASSWORD_BYTES {
        return Err(CryptoError::PasswordTooLong {
            max_bytes: MAX_PASSWORD_BYTES,
        });
    }
    Ok(bytes)
}

impl PasswordHasher {
    /// A hasher with `params`, which must pass [`Argon2Params::validate`].
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for parameters below the floor.
    pub fn new(params: Argon2Params) -> Result<Self> {
        params.validate()?;
        Self::unchecked(params)
    }

    fn unchecked(params: Argon2Params) -> Result<Self> {
        Ok(Self {
            argon2_params: params.to_argon2()?,
            params,
            dummy_hash: OnceLock::new(),
        })
    }

    /// A hasher with tiny parameters (8 KiB, 1 pass) so tests run fast.
    /// Only compiled for tests and the `testing` feature; never use it in
    /// production.
    #[cfg(any(test, feature = "testing"))]
    #[must_use]
    pub fn insecure_fast_for_tests() -> Self {
        let params = Argon2Params {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        match Self::unchecked(params) {
            Ok(h) => h,
            Err(e) => unreachable!("fixed test parameters were rejected: {e}"),
        }
    }

    /// The configured parameters.
    #[must_use]
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            self.argon2_params.clone(),
        )
    }

    /// Hashes `password` with a fresh 16-byte salt and returns the PHC string.
    ///
    /// # Errors
    /// [`CryptoError::PasswordEmpty`], [`CryptoError::PasswordTooLong`], or
    /// [`CryptoError::PasswordHash`] if hashing fails.
    pub fn hash(&self, password: &SecretString) -> Result<String> {
        let bytes = check_length(password)?;
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        use argon2::PasswordHasher as _;
        let phc = self
            .argon2()
            .hash_password_with_salt(bytes, &salt)
            .map_err(|_| CryptoError::PasswordHash("hashing failed"))?;
        Ok(phc.to_string())
    }

    /// Verifies `password` against a stored PHC string.
    ///
    /// # Errors
    /// [`CryptoError::PasswordEmpty`], [`CryptoError::PasswordTooLong`], or
    /// [`CryptoError::PasswordHash`] when the stored string is not a usable
    /// argon2 PHC string.
    pub fn verify(&self, password: &SecretString, phc: &str) -> Result<PasswordCheck> {
        let bytes = check_length(password)?;
        let parsed = PasswordHash::new(phc)
            .map_err(|_| CryptoError::PasswordHash("malformed PHC string"))?;
        let algorithm = parsed.algorithm.as_str();
        if !matches!(algorithm, "argon2id" | "argon2i" | "argon2d") {
            return Err(CryptoError::PasswordHash("not an argon2 hash"));
        }
        match self.argon2().verify_password(bytes, &parsed) {
            Ok(()) => Ok(PasswordCheck::Valid {
                needs_rehash: self.needs_rehash(&parsed),
            }),
            Err(PhcError::PasswordInvalid) => Ok(PasswordCheck::Invalid),
            Err(_) => Err(CryptoError::PasswordHash("stored hash is unusable")),
        }
    }

    fn needs_rehash(&self, parsed: &PasswordHash) -> bool {
        let same_params = Params::try_from(parsed).is_ok_and(|p| {
            p.m_cost() == self.params.memory_kib
                && p.t_cost() == self.params.iterations
                && p.p_cost() == self.params.parallelism
        });
        let salt_ok = parsed.salt.as_ref().is_some_and(|s| s.len() >= SALT_LEN);
        let output_ok = parsed.hash.as_ref().is_some_and(|h| h.len() == OUTPUT_LEN);
        parsed.algorithm.as_str() != "argon2id"
            || parsed.version != Some(0x13)
            || !same_params
            || !salt_ok
            || !output_ok
    }

    /// Spends the same work as a real [`verify`](Self::verify) without a
    /// stored hash: call it for unknown users so their response time matches
    /// that of known users. The reference hash is computed once, lazily, with
    /// the configured parameters (so the first call costs one extra hash).
    pub fn dummy_verify(&self, password: &SecretString) {
        let dummy = self.dummy_hash.get_or_init(|| {
            let mut random = Zeroizing::new([0u8; 24]);
            rand::rng().fill_bytes(random.as_mut());
            let filler = SecretString::from(data_encoding::BASE64URL_NOPAD.encode(random.as_ref()));
            self.hash(&filler).ok()
        });
        if let Some(phc) = dummy {
            let _ = self.verify(password, phc);
        }
    }

    /// Whether `password` matches any of the previous hashes in `history`
    /// (password reuse check). Every entry is verified, malformed entries
    /// count as no match.
    #[must_use]
    pub fn is_in_history(&self, password: &SecretString, history: &[String]) -> bool {
        history.iter().fold(false, |found, phc| {
            let matched = matches!(self.verify(password, phc), Ok(PasswordCheck::Valid { .. }));
            found | matched
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn hash_then_verify_round_trips() {
        let h = PasswordHasher::insecure_fast_for_tests();
        let phc = h.hash(&pw("correct horse")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        assert_eq!(
            h.verify(&pw("correct horse"), &phc).unwrap(),
            PasswordCheck::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn wrong_password_is_invalid() {
        let h = PasswordHasher::insecure_fast_for_tests();
        let phc = h.hash(&pw("correct horse")).unwrap();
        assert_eq!(
            h.verify(&pw("correct hors3"), &phc).unwrap(),
            PasswordCheck::Invalid
        );
    }

    /// R44: salts are random: the same password hashes differently.
    #[test]
    fn r44_same_password_gets_different_salts() {
        let h = PasswordHasher::insecure_fast_for_tests();
        let a = h.hash(&pw("pw")).unwrap();
        let b = h.hash(&pw("pw")).unwrap();
        assert_ne!(a, b);
        let salt = PasswordHash::new(&a).unwrap().salt.unwrap();
        assert_eq!(salt.len(), SALT_LEN);
    }

    /// R44: a hash made with other parameters verifies and asks for a rehash.
    #[test]
    fn r44_needs_rehash_after_parameter_change() {
        let old = PasswordHasher::insecure_fast_for_tests();
        let phc = old.hash(&pw("pw")).unwrap();
        let new = PasswordHasher::unchecked(Argon2Params {
            memory_kib: 16,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        assert_eq!(
            new.verify(&pw("pw"), &phc).unwrap(),
            PasswordCheck::Valid { needs_rehash: true }
        );
        let rehashed = new.hash(&pw("pw")).unwrap();
        assert_eq!(
            new.verify(&pw("pw"), &rehashed).unwrap(),
            PasswordCheck::Valid {
                needs_rehash: false
            }
        );
    }

    /// R44: a non-argon2id variant verifies but asks for a rehash.
    #[test]
    fn r44_argon2i_hash_needs_rehash() {
        use argon2::PasswordHasher as _;
        let a2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8, 1, 1, Some(32)).unwrap(),
        );
        let phc = a2i
            .hash_password_with_salt(b"pw", &[7u8; 16])
            .unwrap()
            .to_string();
        let h = PasswordHasher::insecure_fast_for_tests();
        assert_eq!(
            h.verify(&pw("pw"), &phc).unwrap(),
            PasswordCheck::Valid { needs_rehash: true }
        );
    }

    /// R44: the default is m=19456, t=2, p=1 and passes validation.
    #[test]
    fn r44_default_params_are_owasp() {
        let d = Argon2Params::default();
        assert_eq!((d.memory_kib, d.iterations, d.parallelism), (19_456, 2, 1));
        assert!(d.validate().is_ok());
    }

    /// R44: settings below ASVS 5.0 Appendix C are rejected; the boundary
    /// values are accepted.
    #[test]
    fn r44_weak_params_are_rejected() {
        let p = |m, t, par| Argon2Params {
            memory_kib: m,
            iterations: t,
            parallelism: par,
        };
        for weak in [
            p(47_103, 1, 1),
            p(19_455, 2, 1),
            p(12_287, 3, 1),
            p(12_287, 10, 1),
            p(65_536, 0, 1),
            p(65_536, 3, 0),
            p(8, 1, 1),
        ] {
            assert!(weak.validate().is_err(), "{weak:?}");
            assert!(PasswordHasher::new(weak).is_err(), "{weak:?}");
        }
        for ok in [
            p(47_104, 1, 1),
            p(19_456, 2, 1),
            p(12_288, 3, 1),
            p(9_216 * 2, 4, 1),
        ] {
            assert!(ok.validate().is_ok(), "{ok:?}");
        }
    }

    /// The default parameters hash and verify (one slow test, by design).
    #[test]
    fn r44_default_params_hash_and_verify() {
        let h = PasswordHasher::new(Argon2Params::default()).unwrap();
        let phc = h.hash(&pw("pw")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            h.verify(&pw("pw"), &phc).unwrap(),
            PasswordCheck::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn malformed_phc_is_a_typed_error() {
        let h = PasswordHasher::insecure_fast_for_tests();
        for bad in [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=8,t=1,p=1$",
            "$bcrypt$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
            &"$".repeat(10_000),
        ] {
            assert!(
                matches!(h.verify(&pw("pw"), bad), Err(CryptoError::PasswordHash(_))),
                "{:?}",
                &bad[..bad.len().min(40)]
            );
        }
    }

    #[test]
    fn empty_and_oversized_passwords_are_rejected_before_hashing() {
        let h = PasswordHasher::insecure_fast_for_tests();
        assert_eq!(h.hash(&pw("")).unwrap_err(), CryptoError::PasswordEmpty);
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            h.hash(&pw(&long)).unwrap_err(),
            CryptoError::PasswordTooLong {
                max_bytes: MAX_PASSWORD_BYTES
            }
        );
        assert!(h.hash(&pw(&"a".repeat(MAX_PASSWORD_BYTES))).is_ok());
        let phc = h.hash(&pw("x")).unwrap();
        assert_eq!(
            h.verify(&pw(""), &phc).unwrap_err(),
            CryptoError::PasswordEmpty
        );
    }

    #[test]
    fn history_match_is_detected() {
        let h = PasswordHasher::insecure_fast_for_tests();
        let history: Vec<String> = ["one", "two", "three"]
            .iter()
            .map(|p| h.hash(&pw(p)).unwrap())
            .chain(std::iter::once("garbage".to_owned()))
            .collect();
        assert!(h.is_in_history(&pw("two"), &history));
        assert!(!h.is_in_history(&pw("four"), &history));
        assert!(!h.is_in_history(&pw("two"), &[]));
    }

    #[test]
    fn dummy_verify_runs_and_caches_its_hash() {
        let h = PasswordHasher::insecure_fast_for_tests();
        h.dummy_verify(&pw("whatever"));
        let first = h.dummy_hash.get().cloned().flatten().unwrap();
        h.dummy_verify(&pw("other"));
        assert_eq!(h.dummy_hash.get().cloned().flatten().unwrap(), first);
        assert!(first.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
    }

    /// R45: password errors never echo the password.
    #[test]
    fn r45_errors_do_not_contain_the_password() {
        let h = PasswordHasher::insecure_fast_for_tests();
        let long = "s3cr3t".repeat(200);
        let err = h.hash(&pw(&long)).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
        assert!(!format!("{err:?}").contains("s3cr3t"));
    }
}
