//! MFA in an axum app: sign-up, login, TOTP enrolment with backup codes,
//! verification, and a route that only a session with two factors reaches.
#![forbid(unsafe_code)]
use axum::{Json, Router, routing::get};
use mfa_axum::{Aal2, MfaState};
use mfa_core::Mfa;
use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing};
use mfa_store_sqlx::SqliteStore;
use std::{error::Error, path::Path, sync::Arc};

/// The engine on a SQLite file in `dir`, with its keys kept beside it.
pub async fn engine(dir: &Path) -> Result<Mfa, Box<dyn Error>> {
    let db = format!("sqlite://{}", dir.join("mfa.db").display());
    let store = SqliteStore::connect(&db, 4).await?;
    store.migrate().await?;
    let jwt = JwtKeys::load_or_generate_ed25519(dir.join("jwt.pem"), "k1")?;
    Ok(Mfa::builder()
        .store(Arc::new(store))
        .keys(KeyRing::load_or_generate(dir.join("keys.env"))?)
        .tokens(JwtConfig::new("minimal", "minimal"), jwt)
        .open()
        .await?)
}

/// The MFA API under `/api`, and `/secret` behind two factors.
pub fn app(mfa: Mfa) -> Router {
    let mfa = MfaState::new(mfa);
    let secret = get(|Aal2(claims): Aal2| async move { Json(claims.sub) });
    let router = Router::new().route("/secret", secret).merge(mfa.routes());
    router.layer(mfa.layer())
}
