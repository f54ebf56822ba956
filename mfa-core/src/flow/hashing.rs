//! Password hashing off the async executor.
//!
//! An argon2id verify at the default parameters takes tens of milliseconds
//! of CPU. Run on an async worker thread it stalls every other request that
//! worker serves (docs/performance.md, finding 2: with hashing in place a
//! TOTP verify's p95 was 440 ms at 64 virtual users, 13 ms with it moved
//! to the blocking pool). With the `tokio`
//! feature and inside a tokio runtime, the engine runs each hash on tokio's
//! blocking pool, at most one per CPU at a time (which also bounds argon2's
//! memory: 19 MiB each); elsewhere it runs in place.

use super::{Inner, Mfa};
use crate::crypto::{CryptoError, PasswordCheck, SecretString};
use std::sync::Arc;

impl Mfa {
    /// Verifies `password` against the stored PHC string.
    pub(crate) async fn verify_password(
        &self,
        password: &SecretString,
        phc: &str,
    ) -> Result<PasswordCheck, CryptoError> {
        let (password, phc) = (password.clone(), phc.to_owned());
        offload(&self.inner, move |inner| {
            inner.passwords.verify(&password, &phc)
        })
        .await
    }

    /// Hashes `password` with a fresh salt.
    pub(crate) async fn hash_password(
        &self,
        password: &SecretString,
    ) -> Result<String, CryptoError> {
        let password = password.clone();
        offload(&self.inner, move |inner| inner.passwords.hash(&password)).await
    }

    /// Spends the work of a verify for a user without a usable hash (R53).
    pub(crate) async fn dummy_verify_password(&self, password: &SecretString) {
        let password = password.clone();
        offload(&self.inner, move |inner| {
            inner.passwords.dummy_verify(&password)
        })
        .await;
    }
}

#[cfg(feature = "tokio")]
async fn offload<T: Send + 'static>(
    inner: &Arc<Inner>,
    work: impl FnOnce(&Inner) -> T + Send + 'static,
) -> T {
    use std::sync::OnceLock;
    use tokio::sync::Semaphore;

    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    if tokio::runtime::Handle::try_current().is_err() {
        return work(inner);
    }
    let slots = SLOTS.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    });
    // The semaphore is never closed, so acquiring cannot fail.
    let _slot = slots.acquire().await.ok();
    let inner = Arc::clone(inner);
    match tokio::task::spawn_blocking(move || work(&inner)).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(not(feature = "tokio"))]
async fn offload<T>(inner: &Arc<Inner>, work: impl FnOnce(&Inner) -> T) -> T {
    work(inner)
}
