//! Serves the example on http://127.0.0.1:3000 (data and keys in `.`).
#![forbid(unsafe_code)]
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init(); // a 500's cause is logged here
    let app = axum_minimal::app(axum_minimal::engine(".".as_ref()).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    Ok(axum::serve(listener, app).await?)
}
