//! The devices a user signed in from, and their trust.

use super::support::Audit;
use super::unit::{Step, direct, unit};
use super::{ClientInfo, Mfa};
use crate::crypto::AccessClaims;
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditKind, AuditOutcome, Device, DeviceId, DeviceSighting, RevocationReason, UserId,
};
use crate::observability::step;
use crate::store::Upserted;

impl Mfa {
    /// Records the device of a signed-in client (by its fingerprint) and
    /// returns it, for apps that register a device explicitly after sign-in.
    /// A first sighting is audited. Registering never trusts a device: trust
    /// comes only from `remember_device` on a completed second factor.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] without a fingerprint or with bad client
    /// fields, [`MfaError::InvalidToken`] when the session is gone.
    pub async fn register_device(
        &self,
        claims: &AccessClaims,
        client: &ClientInfo,
    ) -> MfaResult<Upserted> {
        step!("mfa.register_device", async {
            let client = &self.inner.admit(client).await?;
            let fingerprint = client
                .fingerprint
                .as_deref()
                .ok_or(MfaError::invalid_input("fingerprint", "missing"))?;
            unit!(&self.inner, |inner| {
                let session = inner.live_session(claims).await?;
                let now = inner.now();
                let known = inner.devices.list_devices(session.user_id).await?;
                let (fingerprint_hash, existing) =
                    super::login::sighted_device(&inner.keys, session.user_id, fingerprint, &known);
                let up = inner
                    .devices
                    .upsert_device(&DeviceSighting {
                        user_id: session.user_id,
                        fingerprint_hash,
                        info: super::login::sighted_info(client, existing),
                        ip: client.ip_text(),
                        country: client.country.clone(),
                        risk_score: session.risk_score,
                        metadata: serde_json::Value::Null,
                        at: now,
                    })
                    .await?;
                if up.created {
                    inner
                        .record(
                            Audit::new(AuditKind::DeviceRegistered, AuditOutcome::Success, now)
                                .user(session.user_id)
                                .session(session.id)
                                .device(Some(up.device.id))
                                .client(client),
                        )
                        .await?;
                }
                Ok(up)
            })
        })
    }

    /// A user's devices, most recently seen first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn devices(&self, user: UserId) -> MfaResult<Vec<Device>> {
        step!("mfa.devices", user = user, async {
            direct!(&self.inner, |inner| Ok(inner
                .devices
                .list_devices(user)
                .await?))
        })
    }

    /// A user's devices trusted right now.
    ///
    /// # Errors
    /// Store errors.
    pub async fn trusted_devices(&self, user: UserId) -> MfaResult<Vec<Device>> {
        step!("mfa.trusted_devices", user = user, async {
            let now = self.inner.now();
            Ok(self
                .devices(user)
                .await?
                .into_iter()
                .filter(|d| d.is_trusted(now))
                .collect())
        })
    }

    /// Stops trusting one device; its trust token fails from now on (R29).
    ///
    /// # Errors
    /// [`MfaError::NotFound`] when the device is not the user's.
    pub async fn revoke_device(&self, user: UserId, device: DeviceId) -> MfaResult<()> {
        step!("mfa.revoke_device", user = user, async {
            unit!(&self.inner, |inner| {
                inner.own_device(user, device).await?;
                if inner.devices.revoke_device_trust(device).await? {
                    inner
                        .record(
                            Audit::new(
                                AuditKind::DeviceTrustRevoked,
                                AuditOutcome::Success,
                                inner.now(),
                            )
                            .user(user)
                            .device(Some(device)),
                        )
                        .await?;
                }
                Ok(())
            })
        })
    }

    /// Stops trusting every device of a user; returns how many were trusted.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_all_devices(&self, user: UserId) -> MfaResult<u64> {
        self.revoke_all_devices_by(user, None).await
    }

    /// [`Mfa::revoke_all_devices`], recording `operator` in its audit event.
    pub(crate) async fn revoke_all_devices_by(
        &self,
        user: UserId,
        operator: Option<&str>,
    ) -> MfaResult<u64> {
        step!("mfa.revoke_all_devices", user = user, async {
            unit!(&self.inner, |inner| {
                let n = inner.devices.revoke_all_device_trust(user).await?;
                inner
                    .record(
                        Audit::new(
                            AuditKind::DeviceTrustRevoked,
                            AuditOutcome::Success,
                            inner.now(),
                        )
                        .user(user)
                        .meta(serde_json::json!({ "count": n }))
                        .operator(operator),
                    )
                    .await?;
                Ok(n)
            })
        })
    }

    /// Marks a device compromised: its trust ends for good, its sessions are
    /// revoked, and sign-ins from it are refused by the risk engine.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] when the device is not the user's.
    pub async fn mark_device_compromised(&self, user: UserId, device: DeviceId) -> MfaResult<()> {
        step!("mfa.mark_device_compromised", user = user, async {
            unit!(&self.inner, |inner| {
                inner.own_device(user, device).await?;
                let now = inner.now();
                inner.devices.mark_device_compromised(device, now).await?;
                let ended = inner
                    .sessions
                    .revoke_device_sessions(device, RevocationReason::DeviceCompromised, now)
                    .await?;
                inner
                    .record(
                        Audit::new(AuditKind::DeviceCompromised, AuditOutcome::Success, now)
                            .user(user)
                            .device(Some(device))
                            .meta(serde_json::json!({ "sessions_revoked": ended })),
                    )
                    .await
            })
        })
    }
}

impl Step<'_> {
    async fn own_device(&self, user: UserId, device: DeviceId) -> MfaResult<Device> {
        self.devices
            .get_device(device)
            .await?
            .filter(|d| d.user_id == user && d.deleted_at.is_none())
            .ok_or(MfaError::NotFound)
    }
}
