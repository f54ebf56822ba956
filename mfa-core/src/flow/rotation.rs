//! Key rotation: every stored factor secret moved to the current AEAD key,
//! in resumable batches, and an old key retired once nothing needs it.
//!
//! The order of a rotation (see also the
//! [key ring's rotation notes](crate::crypto::keyring#rotation)):
//!
//! 1. add the new key to every instance's ring, then make it current
//!    everywhere, so no instance seals under the old key any more;
//! 2. [`Mfa::reseal_secrets`] batch after batch (or [`Mfa::reseal_all`])
//!    until the scan ends with [`ResealProgress::all_current`];
//! 3. [`Mfa::retire_key`] for the old key, which checks again that no
//!    factor secret is sealed under it and deletes its key check;
//! 4. remove the old key from every ring.
//!
//! Short-lived sealed state (a passkey or push enrolment ceremony, a
//! refresh token kept for the reuse grace interval) is not rewritten: it
//! expires within minutes. Retire a key only once the longest such
//! lifetime has passed since it stopped being current; a ceremony still
//! sealed under it then fails and is started again.

use super::Mfa;
use super::support::Audit;
use super::unit::{Step, unit};
use crate::crypto::{Aad, KeyRing};
use crate::error::{MfaError, MfaResult};
use crate::model::{AuditKind, AuditOutcome, Factor, FactorId, KeyCheckSubject, SealedSecret};
use crate::observability::step;
use serde::Serialize;

/// Largest batch [`Mfa::reseal_secrets`] takes (factors per unit of work).
pub const MAX_RESEAL_BATCH: u32 = 1_000;

/// How many times a factor whose secret a concurrent step rewrote is read
/// and resealed again, each time in a unit of its own, before it is
/// reported as [`ResealProgress::contended`].
const CONTENDED_ROUNDS: u32 = 3;

/// What resealing did: one batch ([`Mfa::reseal_secrets`]) or a whole scan
/// ([`Mfa::reseal_all`]). Factor ids are not secrets; no secret is here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResealProgress {
    /// Factors with a sealed secret looked at (live and soft-deleted).
    pub scanned: u64,
    /// Secrets moved to the current key.
    pub resealed: u64,
    /// Secrets already under the current key, left untouched.
    pub current: u64,
    /// Factors whose secret this key ring cannot open (sealed under a key
    /// it does not hold, or altered): left as they are, for an operator to
    /// look at. While any are left, the key they need cannot be retired.
    pub unreadable: Vec<FactorId>,
    /// Factors whose secret kept changing under the rotation: each time it
    /// was read again it had been rewritten under an older key, so some
    /// instance still seals under one (step 1 of the rotation was not
    /// finished). Run the rotation again once it is.
    pub contended: Vec<FactorId>,
    /// The last factor of the batch, to pass as `after` to the next call;
    /// `None` when the scan has reached the end.
    pub next: Option<FactorId>,
}

impl ResealProgress {
    /// Whether the scan reached the end.
    #[must_use]
    pub const fn is_complete(&self) -> bool {
        self.next.is_none()
    }

    /// Whether every secret looked at is now under the current key.
    #[must_use]
    pub fn all_current(&self) -> bool {
        self.unreadable.is_empty() && self.contended.is_empty()
    }

    /// Adds a later batch's counts; its `next` replaces this one's.
    fn absorb(&mut self, later: Self) {
        self.scanned += later.scanned;
        self.resealed += later.resealed;
        self.current += later.current;
        self.unreadable.extend(later.unreadable);
        self.contended.extend(later.contended);
        self.next = later.next;
    }
}

/// Which factors one unit of resealing reads.
enum Batch {
    /// The scan's next page.
    After(Option<FactorId>, u32),
    /// Factors a concurrent step rewrote in an earlier unit, read again.
    Again(Vec<FactorId>),
}

/// What one factor's secret needs.
enum Needs {
    /// Nothing: it is under the current key.
    Nothing,
    /// To be written back, sealed under the current key.
    Write(SealedSecret),
    /// It cannot be opened with this ring.
    Unreadable,
}

fn needs(keys: &KeyRing, factor: &Factor, sealed: &SealedSecret) -> MfaResult<Needs> {
    match keys.reseal(sealed, &Aad::factor(factor.user_id, factor.id)) {
        Ok(Some(resealed)) => Ok(Needs::Write(resealed)),
        Ok(None) => Ok(Needs::Nothing),
        Err(
            crate::crypto::CryptoError::UnknownKeyId
            | crate::crypto::CryptoError::OpenFailed
            | crate::crypto::CryptoError::MalformedSealedSecret,
        ) => Ok(Needs::Unreadable),
        Err(e) => Err(MfaError::Crypto(e)),
    }
}

impl Mfa {
    /// One batch of a key rotation: the next `limit` factors holding a
    /// sealed secret (live or soft-deleted), in id order after `after`
    /// (from the first when `None`), each secret sealed under an older key
    /// opened and sealed again under the current one, in one unit of work
    /// with one audit event (`secrets_resealed`, with the counts).
    ///
    /// Each write is a compare-and-set on the blob that was read, so a
    /// step writing the same factor at the same moment (a passkey sign-in
    /// storing its credential record) is never undone: such a factor is
    /// read again in a unit of its own, a few times, and only reported as
    /// [`ResealProgress::contended`] if it keeps changing. The job is
    /// resumable: pass the returned [`ResealProgress::next`] as `after`
    /// until it is `None`; a batch run twice does no harm (secrets already
    /// current are left as they are).
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] (`limit`) outside 1 to
    /// [`MAX_RESEAL_BATCH`]; store errors (the batch's writes are rolled
    /// back; run it again).
    pub async fn reseal_secrets(
        &self,
        after: Option<FactorId>,
        limit: u32,
    ) -> MfaResult<ResealProgress> {
        if limit == 0 || limit > MAX_RESEAL_BATCH {
            return Err(MfaError::invalid_input("limit", "between 1 and 1000"));
        }
        step!("mfa.reseal_secrets", async {
            let mut progress = self.reseal_unit(Batch::After(after, limit)).await?;
            let mut round = 0;
            while !progress.contended.is_empty() && round < CONTENDED_ROUNDS {
                round += 1;
                let again = std::mem::take(&mut progress.contended);
                let next = progress.next;
                let mut retried = self.reseal_unit(Batch::Again(again)).await?;
                retried.scanned = 0;
                retried.next = next;
                progress.absorb(retried);
            }
            if !progress.contended.is_empty() {
                tracing::warn!(
                    factors = progress.contended.len(),
                    "key rotation: secrets kept being rewritten under an older key; \
                     is every instance sealing under the current key?"
                );
            }
            Ok(progress)
        })
    }

    /// A whole key rotation: [`Mfa::reseal_secrets`] batch after batch of
    /// `limit`, from the first factor (or after `after`, to resume), until
    /// the scan ends; `progress` sees the running totals after each batch.
    /// Returns the totals.
    ///
    /// # Errors
    /// As [`Mfa::reseal_secrets`]; the batches before the failing one stay
    /// done, and the last total `progress` saw says where to resume.
    pub async fn reseal_all(
        &self,
        after: Option<FactorId>,
        limit: u32,
        mut progress: impl FnMut(&ResealProgress) + Send,
    ) -> MfaResult<ResealProgress> {
        let mut total = ResealProgress {
            next: after,
            ..ResealProgress::default()
        };
        loop {
            let batch = self.reseal_secrets(total.next, limit).await?;
            total.absorb(batch);
            progress(&total);
            if total.is_complete() {
                return Ok(total);
            }
        }
    }

    /// One unit of resealing.
    async fn reseal_unit(&self, batch: Batch) -> MfaResult<ResealProgress> {
        unit!(&self.inner, |inner| {
            let (factors, full) = match &batch {
                Batch::After(after, limit) => {
                    let page = inner.factors.list_sealed_factors(*after, *limit).await?;
                    let full = page.len() == *limit as usize;
                    (page, full)
                }
                Batch::Again(ids) => {
                    let mut page = Vec::with_capacity(ids.len());
                    for id in ids {
                        page.extend(inner.factors.get_factor(*id).await?);
                    }
                    (page, false)
                }
            };
            reseal_factors(&inner, factors, full).await
        })
    }

    /// Retires the AEAD key `key_id` after a rotation: checks that no
    /// factor secret (live or soft-deleted) is sealed under it any more,
    /// then deletes its key check, so instances whose ring no longer holds
    /// it start (see [`Mfa::check_keys`]). Audited (`key_retired`). Remove
    /// the key from every ring right after: an instance that starts while
    /// its ring still holds the key writes the check again.
    ///
    /// Returns how many sealed factors were checked.
    ///
    /// # Errors
    /// [`MfaError::Conflict`] for the current key, or while a factor
    /// secret is still sealed under the key (finish the rotation first);
    /// [`MfaError::NotFound`] when the store holds no check of that key;
    /// store errors.
    pub async fn retire_key(&self, key_id: u32) -> MfaResult<u64> {
        step!("mfa.retire_key", async {
            if key_id == self.inner.keys.current_key_id() {
                return Err(MfaError::Conflict("the current key cannot be retired"));
            }
            let mut checked = 0u64;
            let mut after = None;
            loop {
                let page = self
                    .inner
                    .store
                    .list_sealed_factors(after, MAX_RESEAL_BATCH)
                    .await?;
                for factor in &page {
                    checked += 1;
                    let sealed = factor.secret.as_ref().map(KeyRing::sealed_key_id);
                    if matches!(sealed, Some(Ok(id)) if id == key_id) {
                        return Err(MfaError::Conflict(
                            "a factor secret is still sealed under this key; reseal first",
                        ));
                    }
                }
                if page.len() < MAX_RESEAL_BATCH as usize {
                    break;
                }
                after = page.last().map(|f| f.id);
            }
            unit!(&self.inner, |inner| {
                if !inner
                    .key_checks
                    .remove_key_check(KeyCheckSubject::AeadKey(key_id))
                    .await?
                {
                    return Err(MfaError::NotFound);
                }
                inner
                    .record(
                        Audit::new(AuditKind::KeyRetired, AuditOutcome::Success, inner.now()).meta(
                            serde_json::json!({
                                "key_id": key_id,
                                "factors_checked": checked,
                            }),
                        ),
                    )
                    .await?;
                tracing::info!(key_id, factors_checked = checked, "AEAD key retired");
                Ok(checked)
            })
        })
    }
}

/// Reseals `factors` inside the step's unit; `full` when the scan's page
/// was full (so the scan goes on after its last factor).
async fn reseal_factors(
    inner: &Step<'_>,
    factors: Vec<Factor>,
    full: bool,
) -> MfaResult<ResealProgress> {
    let mut progress = ResealProgress {
        next: if full {
            factors.last().map(|f| f.id)
        } else {
            None
        },
        ..ResealProgress::default()
    };
    for factor in &factors {
        progress.scanned += 1;
        let Some(expected) = &factor.secret else {
            progress.current += 1;
            continue;
        };
        match needs(&inner.keys, factor, expected)? {
            Needs::Nothing => progress.current += 1,
            Needs::Unreadable => {
                tracing::warn!(factor = %factor.id, "key rotation: a factor secret cannot be opened with this key ring");
                progress.unreadable.push(factor.id);
            }
            Needs::Write(resealed) => {
                if inner
                    .factors
                    .reseal_factor_secret(factor.id, expected, &resealed)
                    .await?
                {
                    progress.resealed += 1;
                } else {
                    progress.contended.push(factor.id);
                }
            }
        }
    }
    if progress.resealed > 0 || !progress.unreadable.is_empty() {
        inner
            .record(
                Audit::new(
                    AuditKind::SecretsResealed,
                    AuditOutcome::Success,
                    inner.now(),
                )
                .meta(serde_json::json!({
                    "key_id": inner.keys.current_key_id(),
                    "resealed": progress.resealed,
                    "current": progress.current,
                    "unreadable": progress.unreadable.len(),
                })),
            )
            .await?;
    }
    Ok(progress)
}
