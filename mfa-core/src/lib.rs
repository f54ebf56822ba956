//! mfa-core (crate docs are written at integration time).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod crypto;
pub mod model;
pub mod store;
