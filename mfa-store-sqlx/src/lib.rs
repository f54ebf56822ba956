//! sqlx stores for mfa-core (work in progress).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
