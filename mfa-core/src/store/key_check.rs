//! Key checks: the values that tie a store to the key ring its data was
//! written with.

use super::StoreResult;
use crate::model::{KeyCheck, KeyCheckSubject};
use async_trait::async_trait;

/// Key check values, at most one per [`KeyCheckSubject`].
///
/// The engine reads them when it starts ([`MfaBuilder::open`](crate::MfaBuilder::open))
/// and writes one for each key of its ring that has none yet.
#[async_trait]
pub trait KeyCheckRepository: Send + Sync {
    /// Every stored key check, in any order. A store may leave out rows of
    /// a kind this version does not know (written by a newer version).
    async fn key_checks(&self) -> StoreResult<Vec<KeyCheck>>;

    /// Stores `check` unless a check for its subject is stored already,
    /// atomically: `true` when it was stored. Of concurrent calls for one
    /// subject exactly one returns `true`, and an existing check is never
    /// overwritten.
    async fn add_key_check(&self, check: &KeyCheck) -> StoreResult<bool>;

    /// Deletes the check of `subject`; `true` if there was one. For an
    /// operator retiring a key on purpose, once nothing is sealed under it.
    async fn remove_key_check(&self, subject: KeyCheckSubject) -> StoreResult<bool>;
}
