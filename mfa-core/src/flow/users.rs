//! Accounts: creation and password changes.

use super::Mfa;
use super::login::{check_password_shape, normalize_identifier};
use super::support::Audit;
use super::unit::{direct, unit};
use crate::blocklist::{self, NewPasswordContext};
use crate::crypto::{AccessClaims, ExposeSecret, PasswordCheck, SecretString};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditKind, AuditOutcome, Contact, LockScope, NotificationKind, RevocationReason, SessionId,
    User, UserId,
};
use crate::observability::step;
use crate::store::{Durability, StoreError};
use std::fmt;

/// A new account.
pub struct NewUser {
    /// Login name; trimmed and lower-cased.
    pub identifier: String,
    /// Password, or `None` for users whose host checks the first factor.
    pub password: Option<SecretString>,
    /// Contact details for notifications.
    pub contact: Contact,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("identifier", &self.identifier)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("contact", &self.contact)
            .finish()
    }
}

impl Mfa {
    /// The policy's checks of a password about to be set for the account
    /// `identifier` (normalised): its length, then the common-password and
    /// context-word checks of [`crate::blocklist`] (NIST SP 800-63B
    /// §5.1.1.2). Runs before any hashing or writing, so a refusal stores
    /// nothing.
    pub(super) fn check_new_password(
        &self,
        password: &SecretString,
        identifier: &str,
    ) -> MfaResult<()> {
        let inner = &self.inner;
        check_password_shape(inner, password)?;
        let password = password.expose_secret();
        if password.chars().count() < inner.policy.password.min_length {
            return Err(MfaError::invalid_input("password", "too short"));
        }
        let context = NewPasswordContext {
            identifier,
            product_name: &inner.policy.product_name,
            refuse_common: inner.policy.password.refuse_common,
            host_list: inner.password_blocklist.as_ref(),
        };
        match blocklist::refusal(password, &context) {
            Some(reason) => Err(MfaError::invalid_input("password", reason)),
            None => Ok(()),
        }
    }

    /// Creates an account.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] for a malformed identifier or a password
    /// outside the policy's length bounds, on the list of common passwords
    /// or the host's list (`too common`), or containing the identifier or
    /// the product name (see [`crate::blocklist`]); [`MfaError::Conflict`]
    /// when the identifier is taken. Nothing is stored on an error.
    pub async fn create_user(&self, new: NewUser) -> MfaResult<User> {
        step!("mfa.create_user", async {
            let inner = &self.inner;
            let identifier = normalize_identifier(&new.identifier)?;
            let now = inner.now();
            let mut user = User::new(identifier, now);
            user.email = new.contact.email;
            user.phone = new.contact.phone;
            user.locale = new.contact.locale;
            if let Some(password) = &new.password {
                self.check_new_password(password, &user.identifier)?;
                user.password_hash = Some(
                    self.hash_password(password)
                        .await
                        .map_err(MfaError::Crypto)?,
                );
            }
            unit!(inner, |inner| {
                match inner.users.create_user(&user).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict(_)) => {
                        return Err(MfaError::Conflict("identifier taken"));
                    }
                    Err(e) => return Err(e.into()),
                }
                inner
                    .record(
                        Audit::new(AuditKind::UserCreated, AuditOutcome::Success, now)
                            .user(user.id),
                    )
                    .await?;
                Ok(user.clone())
            })
        })
    }

    /// A user by id.
    ///
    /// # Errors
    /// [`MfaError::NotFound`].
    pub async fn user(&self, id: UserId) -> MfaResult<User> {
        step!("mfa.user", user = id, async {
            direct!(&self.inner, |inner| inner.user(id).await)
        })
    }

    /// Changes the password of the signed-in user. The current password is
    /// checked; the last `policy.password.history` passwords cannot be
    /// reused. Every other session and all device trust end.
    ///
    /// # Errors
    /// [`MfaError::InvalidCredentials`] for a wrong current password,
    /// [`MfaError::InvalidInput`] for a new password outside the policy
    /// (as for [`Mfa::create_user`]) or found in the history. Nothing
    /// changes on an error.
    pub async fn change_password(
        &self,
        claims: &AccessClaims,
        current: &SecretString,
        new: &SecretString,
    ) -> MfaResult<()> {
        step!("mfa.change_password", async {
            let limit = self.inner.policy.password.history;
            let (session, user, mut history) = direct!(&self.inner, |inner| {
                let session = inner.live_session(claims).await?;
                let user = inner.user(session.user_id).await?;
                let history = inner.users.password_history(user.id, limit).await?;
                Ok((session, user, history))
            })?;
            self.check_new_password(new, &user.identifier)?;
            let phc = user
                .password_hash
                .as_deref()
                .ok_or(MfaError::InvalidCredentials)?;
            self.recheck_password(&user, session.id, current, phc, "change_password")
                .await?;
            history.push(phc.to_owned());
            if self.inner.passwords.is_in_history(new, &history) {
                return Err(MfaError::invalid_input("password", "used before"));
            }
            let hash = self.hash_password(new).await.map_err(MfaError::Crypto)?;
            unit!(&self.inner, |inner| {
                let now = inner.now();
                inner.users.set_password(user.id, &hash, limit, now).await?;
                inner.devices.revoke_all_device_trust(user.id).await?;
                inner
                    .sessions
                    .revoke_user_sessions(
                        user.id,
                        Some(session.id),
                        RevocationReason::PasswordChanged,
                        now,
                    )
                    .await?;
                inner
                    .record(
                        Audit::new(AuditKind::PasswordChanged, AuditOutcome::Success, now)
                            .user(user.id)
                            .session(session.id),
                    )
                    .await?;
                inner.notify(
                    &user,
                    NotificationKind::PasswordChanged,
                    serde_json::json!({}),
                );
                Ok(())
            })
        })
    }

    /// Deletes the signed-in user's own account (soft; [`Mfa::purge`]
    /// removes the rows after `policy.retention`): every session and all
    /// device trust end at once. The password proves it is the user (when
    /// the account has one), and an account with a second factor needs it
    /// verified within `policy.session.reauth_window` (step-up).
    ///
    /// # Errors
    /// [`MfaError::InvalidToken`] for an ended session,
    /// [`MfaError::StepUpRequired`] without a recent second factor,
    /// [`MfaError::InvalidCredentials`] for a wrong password. Nothing
    /// changes on an error.
    pub async fn delete_account(
        &self,
        claims: &AccessClaims,
        password: &SecretString,
    ) -> MfaResult<()> {
        step!("mfa.delete_account", async {
            let (session, user, second_factor) = direct!(&self.inner, |inner| {
                let session = inner.live_session(claims).await?;
                let user = inner.user(session.user_id).await?;
                let second_factor = !inner.usable_methods(user.id).await?.is_empty();
                Ok((session, user, second_factor))
            })?;
            if second_factor {
                self.require_recent_mfa(claims, self.inner.policy.session.reauth_window)?;
            }
            if let Some(phc) = user.password_hash.as_deref() {
                self.recheck_password(&user, session.id, password, phc, "delete_account")
                    .await?;
            }
            unit!(&self.inner, |inner| {
                let now = inner.now();
                if !inner.users.soft_delete_user(user.id, now).await? {
                    return Err(MfaError::NotFound);
                }
                inner
                    .sessions
                    .revoke_user_sessions(user.id, None, RevocationReason::AccountDisabled, now)
                    .await?;
                inner.devices.revoke_all_device_trust(user.id).await?;
                inner
                    .record(
                        Audit::new(AuditKind::UserDeleted, AuditOutcome::Success, now)
                            .user(user.id)
                            .session(session.id)
                            .meta_field("by", "user"),
                    )
                    .await
            })
        })
    }
}

impl Mfa {
    /// Checks the password of a signed-in user again (to change it, to
    /// delete the account) as a sign-in checks it (R56): the attempt is
    /// counted against the password counter before the hash is evaluated,
    /// in a unit of its own, so a stolen session guesses no faster than the
    /// lockout rule allows, and a locked counter refuses without
    /// evaluating. A wrong password or a refusal is audited
    /// (`password_rechecked`, with the step and the session), a lock it
    /// starts is audited and announced; the right password clears the
    /// count. The argon2 work runs between the units, never inside one.
    async fn recheck_password(
        &self,
        user: &User,
        session: SessionId,
        password: &SecretString,
        phc: &str,
        step_name: &'static str,
    ) -> MfaResult<()> {
        let audit = |outcome, now, reason: &'static str| {
            Audit::new(AuditKind::PasswordRechecked, outcome, now)
                .user(user.id)
                .session(session)
                .meta(serde_json::json!({ "step": step_name, "reason": reason }))
        };
        let lock_started = unit!(&self.inner, Durability::Carried, |inner| {
            match inner.reserve_attempt(user.id, LockScope::Password).await {
                Err(e @ MfaError::AccountLocked { .. }) => {
                    inner
                        .record(audit(AuditOutcome::Denied, inner.now(), "locked"))
                        .await?;
                    Err(e)
                }
                other => other,
            }
        })?;
        let check = self
            .verify_password(password, phc)
            .await
            .map_err(MfaError::Crypto)?;
        match check {
            PasswordCheck::Valid { .. } => {
                unit!(&self.inner, Durability::Carried, |inner| {
                    inner.clear_failures(user.id, LockScope::Password).await
                })
            }
            PasswordCheck::Invalid => unit!(&self.inner, |inner| {
                inner
                    .record(audit(AuditOutcome::Failure, inner.now(), "wrong_password"))
                    .await?;
                if let Some(until) = lock_started {
                    inner
                        .lock_started(user, LockScope::Password, until, None)
                        .await?;
                }
                Err(MfaError::InvalidCredentials)
            }),
        }
    }
}
