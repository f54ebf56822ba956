//! `cargo run -p hyper-service`: the sign-in flow on plain hyper, on
//! <http://127.0.0.1:3000> (see the crate docs for the routes).
#![forbid(unsafe_code)]

use mfa_core::Mfa;
use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing};
use mfa_store_memory::MemoryStore;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The cause of a 500 is logged through `tracing`: without a subscriber
    // it would go nowhere.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    // Keys made up at start-up are enough here: the memory store keeps
    // nothing past the process. A store that outlives it needs the same
    // keys at every start (docs/integration.md, "Keys").
    let mfa = Mfa::builder()
        .store(Arc::new(MemoryStore::new()))
        .keys(KeyRing::generate())
        .tokens(
            JwtConfig::new("http://127.0.0.1:3000", "hyper-service"),
            JwtKeys::generate_ed25519("k1")?,
        )
        .build()?;

    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    hyper_service::serve(listener, mfa).await?;
    Ok(())
}
