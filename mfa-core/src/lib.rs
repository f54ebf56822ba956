//! mfa-core (crate docs are written at integration time).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod error;
mod flow;
pub mod model;
pub mod policy;
pub mod risk;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{MfaError, MfaResult};
pub use flow::*;
