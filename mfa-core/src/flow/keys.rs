//! The start-up check of the key ring against the store's key checks.

use super::Mfa;
use super::unit::MAX_ATTEMPTS;
use crate::crypto::{CryptoError, KeyRing};
use crate::error::{KeyMismatch, MfaError, MfaResult};
use crate::model::{KeyCheck, KeyCheckSubject};
use crate::observability::step;
use crate::store::{Repositories, StoreError};

/// What [`Mfa::check_keys`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeysChecked {
    /// The subjects whose stored check value this key ring matched.
    pub verified: Vec<KeyCheckSubject>,
    /// The subjects whose check value was written now: the ring's keys
    /// that had none (a new key, or a store used for the first time).
    pub added: Vec<KeyCheckSubject>,
}

impl Mfa {
    /// Checks that the key ring is the one the store's data was written
    /// with, and records the ring's new keys; [`MfaBuilder::open`](crate::MfaBuilder::open)
    /// calls it. Call it once at start-up, before serving.
    ///
    /// The rule, over the key checks of the store
    /// ([`KeyCheckRepository`](crate::store::KeyCheckRepository)):
    ///
    /// 1. every stored check of an AEAD key of the ring must open with that
    ///    key, and the check of each of its root versions must match;
    /// 2. a stored check of a key the ring lacks is refused too: data may be
    ///    sealed under that key (a key retired on purpose needs its check
    ///    deleted, see the [rotation docs](crate::crypto::keyring#rotation));
    /// 3. then a check is written for each key of the ring that has none,
    ///    all in one unit of work that is kept only if the store's checks,
    ///    read again inside it, all match the ring. Of instances starting
    ///    at once on a new store, the first to write wins, and one whose
    ///    ring differs from the winner's fails and leaves nothing behind.
    ///
    /// A store written before key checks existed has none, so the first
    /// start records whatever ring it is given.
    ///
    /// # Errors
    /// [`MfaError::KeyMismatch`] saying which key does not match and what to
    /// do; [`MfaError::Store`] when the store fails.
    pub async fn check_keys(&self) -> MfaResult<KeysChecked> {
        step!("mfa.check_keys", async {
            let store = &*self.inner.store;
            let keys = &*self.inner.keys;
            let verified = verify(keys, &store.key_checks().await?)?;
            let missing: Vec<KeyCheckSubject> = keys
                .key_check_subjects()
                .into_iter()
                .filter(|s| !verified.contains(s))
                .collect();
            if missing.is_empty() {
                return Ok(KeysChecked {
                    verified,
                    added: Vec::new(),
                });
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                crate::observability::unit_attempt(attempt);
                let tx = store.begin().await?;
                let result = self.add_checks(tx.repositories(), &missing).await;
                let result = match result {
                    Ok(checked) => tx.commit().await.map(|()| checked).map_err(MfaError::from),
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                };
                match result {
                    Err(MfaError::Store(ref e @ StoreError::Contention(_)))
                        if attempt < MAX_ATTEMPTS =>
                    {
                        tracing::debug!(error = %e, attempt, "key checks: contention, running again");
                    }
                    Ok(checked) => {
                        if !checked.added.is_empty() {
                            tracing::info!(added = ?checked.added, "key checks written to the store");
                        }
                        return Ok(checked);
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// Writes the checks of `missing`, in order, and compares every check
    /// of the store with the ring; inside the caller's unit of work.
    async fn add_checks(
        &self,
        repositories: &dyn Repositories,
        missing: &[KeyCheckSubject],
    ) -> MfaResult<KeysChecked> {
        let keys = &*self.inner.keys;
        let now = self.inner.clock.now();
        let mut added = Vec::new();
        for &subject in missing {
            let check = KeyCheck {
                subject,
                value: keys.key_check(subject).map_err(MfaError::Crypto)?,
                created_at: now,
            };
            if repositories.add_key_check(&check).await? {
                added.push(subject);
            }
        }
        // Another instance may have written some of them first: this ring
        // must match those.
        let verified = verify(keys, &repositories.key_checks().await?)?
            .into_iter()
            .filter(|s| !added.contains(s))
            .collect();
        Ok(KeysChecked { verified, added })
    }
}

/// Compares every stored check with `keys`; returns the subjects that
/// matched, or the first mismatch in subject order.
fn verify(keys: &KeyRing, stored: &[KeyCheck]) -> MfaResult<Vec<KeyCheckSubject>> {
    let mut stored: Vec<&KeyCheck> = stored.iter().collect();
    stored.sort_by_key(|c| c.subject);
    let mut verified = Vec::with_capacity(stored.len());
    for check in stored {
        let mismatch = match (
            keys.verify_key_check(check.subject, &check.value),
            check.subject,
        ) {
            (Ok(true), _) => {
                verified.push(check.subject);
                continue;
            }
            (Ok(false), KeyCheckSubject::AeadKey(key_id)) => KeyMismatch::WrongKey { key_id },
            (Ok(false), KeyCheckSubject::RootSecret(version)) => {
                KeyMismatch::RootSecret { version }
            }
            (Err(CryptoError::UnknownKeyId), KeyCheckSubject::AeadKey(key_id)) => {
                KeyMismatch::MissingKey { key_id }
            }
            (Err(CryptoError::UnknownKeyId), KeyCheckSubject::RootSecret(version)) => {
                KeyMismatch::MissingRoot { version }
            }
            (Err(e), _) => return Err(MfaError::Crypto(e)),
        };
        return Err(MfaError::KeyMismatch(mismatch));
    }
    Ok(verified)
}
