//! Plain data: the entities the engine reads and the stores persist.
//!
//! Nothing here performs I/O or cryptography; types only carry meaning.
//! Every enum that a store persists has a stable `as_str` / `parse` pair.

pub(crate) mod audit;
mod auth;
mod challenge;
mod device;
mod digest;
mod factor;
mod ids;
mod key_check;
mod notification;
mod push;
mod session;
mod user;

pub use audit::{AuditEvent, AuditKind, AuditLink, AuditOutcome};
pub use auth::{Aal, AuthMethod, UnknownAuthMethod};
pub use challenge::{
    CeremonyPurpose, ChallengePurpose, LoginTicket, OtpChallenge, OtpChannel, TicketKind,
    WebauthnCeremony,
};
pub use device::{Device, DeviceInfo, DeviceKind, DeviceSighting};
pub use digest::{AuditMac, CodeHash, DigestLengthError, FingerprintHash, SealedSecret, TokenHash};
pub use factor::{
    BackupCodeRecord, Factor, FactorKind, FactorStatus, MfaSettings, TotpAlgorithm, TotpParams,
};
pub use ids::*;
pub use key_check::{KeyCheck, KeyCheckSubject};
pub use notification::{Notification, NotificationKind};
pub use push::{PushContext, PushRequest, PushResolution, PushStatus};
pub use session::{
    RefreshStatus, RefreshToken, RevocationReason, Session, SessionStatus, SessionType,
};
pub use user::{
    Contact, FailureCounter, Lock, LockScope, LockoutRule, MAX_CONSECUTIVE_FAILURES, User,
    UserStatus,
};
