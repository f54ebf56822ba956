//! The repository traits of `mfa-core` on [`SqlStore`](crate::SqlStore), one
//! file per aggregate. Every statement is a template (`{p}`, `$n`) turned
//! into the backend's text by [`Statement::new`](crate::driver::Statement::new).

pub(crate) mod audit;
mod backup_code;
mod challenge;
mod device;
mod factor;
mod key_check;
mod push;
mod rate_limit;
mod reads;
mod session;
mod user;
