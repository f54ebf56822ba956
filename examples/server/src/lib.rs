//! The example MFA HTTP service: the whole sign-in flow of `mfa-core` over
//! JSON, with a demo page at `/`.
//!
//! The crate is a library with a thin `main` so tests can start the real
//! server on an ephemeral port: [`start`] binds, serves in the background
//! and returns a [`Server`] handle; [`run`] serves until Ctrl-C / SIGTERM.
#![forbid(unsafe_code)]
// The hand-written OpenAPI document is one deep `json!` literal.
#![recursion_limit = "512"]

pub mod api;
pub mod config;
pub mod delivery;
pub mod geoip;
pub mod keys;
pub mod openapi;
pub mod outbox;
pub mod push;
pub mod rate_limit;
pub mod store;
mod web;

use api::AppState;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use config::{Config, ConfigError, Mode};
use mfa_axum::{ClientConfig, CookieConfig, MfaState};
use mfa_core::Mfa;
use mfa_core::crypto::JwtConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use config::Config as ServerConfig;

/// Longest time a request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad or missing configuration.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The engine refused its configuration, or the key ring does not
    /// match the data in the store (`key_mismatch`).
    #[error("engine: {0}")]
    Engine(#[from] mfa_core::MfaError),
    /// The listen address could not be bound, or the data directory created.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the engine and the application state from `config`.
///
/// # Errors
/// [`StartError`] for missing keys (production), an unusable store, a
/// refused delivery setting, a geolocation database that cannot be used,
/// an engine configuration error, or keys that are not the ones the
/// store's data was written with.
pub async fn build_state(config: &Config) -> Result<AppState, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let mut policy = config.policy.clone();
    let channels = delivery::channels(config)?;
    let mut builder = Mfa::builder();
    policy.methods.email = channels.email.is_some();
    policy.methods.sms = channels.sms.is_some();
    if let Some(email) = channels.email {
        builder = builder.email(email);
    } else {
        tracing::warn!("no email transport: email codes are off");
    }
    if let Some(sms) = channels.sms {
        builder = builder.sms(sms);
    } else {
        tracing::warn!("no SMS transport: SMS codes are off");
    }
    if config.dev_delivery == config::DevDelivery::Log && config.mode == Mode::Development {
        tracing::warn!(
            "development mode: one-time codes are printed by the log channel (MFA_DELIVERY=outbox writes them to a file instead)"
        );
    }
    // Before the keys and the store: a bad database stops the service
    // before it touches anything.
    if let Some(geo) = geoip::locator(config)? {
        builder = builder.geo(Arc::new(geo));
    }
    let keys = keys::load(config)?;
    let backend = store::Backend::from_config(config)?;
    let (mut builder, handles) =
        store::open(&backend, config.table_prefix.as_deref(), builder).await?;
    builder = builder.links(config.links(config.listen));
    if let Some(passkeys) = config.passkeys(config.listen) {
        tracing::info!(rp_id = passkeys.rp_id(), origins = ?passkeys.origins(), "passkeys on");
        builder = builder.passkeys(passkeys);
    }
    match push::ServicePush::from_config(config)? {
        Some(sender) => {
            tracing::info!(?sender, "push approval on");
            builder = builder.push(Arc::new(sender));
        }
        None => tracing::info!("push approval off: no push transport is configured"),
    }
    let mfa = builder
        .keys(keys.ring.ring()?)
        .tokens(
            JwtConfig::new(config.issuer.clone(), config.audience.clone()),
            keys.jwt,
        )
        .policy(policy)
        .open()
        .await?;
    tracing::info!(store = handles.backend, mode = ?config.mode, "engine ready");
    tracing::info!(
        service_keys = ?config.service_keys,
        "admin API and gateway sign-in: {}",
        if config.service_keys.is_empty() {
            "off (no MFA_SERVICE_KEYS)"
        } else {
            "on"
        }
    );
    Ok(AppState {
        mfa: MfaState::new(mfa)
            .with_client(ClientConfig {
                trusted_proxies: config.trusted_proxies.clone(),
                ..ClientConfig::default()
            })
            .with_cookies(CookieConfig {
                path: "/api".into(),
                secure: config.secure_cookies(),
            })
            .with_service_keys(config.service_keys.clone()),
        store: handles,
        openapi: Arc::new(openapi::document()),
    })
}

/// The router with every middleware: request ids, JSON request logs
/// (method, path, status, latency; never query strings, bodies or
/// credentials), timeout, CORS, body limit and the per-client cap
/// (`limiter`, pruned by [`rate_limit::prune_until`]).
pub fn app(state: AppState, config: &Config, limiter: rate_limit::IpRateLimit) -> Router {
    let mut router = api::router(state)
        .layer(axum::middleware::from_fn_with_state(
            limiter,
            rate_limit::limit,
        ))
        // The extractors refuse a larger body (a declared length at once)
        // with a `payload_too_large` error in the API's JSON format.
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit));
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static(mfa_axum::TICKET_HEADER),
                    HeaderName::from_static("x-device-fingerprint"),
                ])
                .allow_credentials(true)
                .max_age(Duration::from_secs(600)),
        );
    }
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %req.method(),
                        path = %req.uri().path(),
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            HeaderName::from_static(mfa_axum::TICKET_HEADER),
        ]))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// A running server.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Stops accepting connections, lets in-flight requests finish, and
    /// waits for the server to end.
    ///
    /// # Errors
    /// The server's I/O error, if it failed.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}

async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>), StartError> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    // The address actually bound (port 0 picks one): the development
    // passkey origin names it.
    let mut config = config;
    config.listen = addr;
    let mut state = build_state(&config).await?;
    // Open push status streams end when the shutdown starts; otherwise the
    // graceful shutdown would wait for each of them.
    let (closing, closed) = tokio::sync::watch::channel(false);
    state.mfa = state.mfa.with_shutdown(closed.clone());
    let engine = state.mfa.mfa.clone();
    let checkpoints = tokio::spawn(checkpoint_audit_chains(engine.clone(), closed.clone()));
    let purges = config
        .purge_interval
        .map(|every| tokio::spawn(purge_periodically(engine.clone(), every, closed.clone())));
    let limiter =
        rate_limit::IpRateLimit::new(config.rate_limit_per_minute, state.mfa.client.clone());
    let pruning = tokio::spawn(rate_limit::prune_until(limiter.clone(), closed));
    let router = app(state, &config, limiter);
    tracing::info!(%addr, "listening");
    let task = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = closing.send(true);
        })
        .await;
        let _ = checkpoints.await;
        if let Some(purges) = purges {
            let _ = purges.await;
        }
        let _ = pruning.await;
        // The last events of this instance, covered before it exits.
        if let Err(e) = engine.checkpoint_audit().await {
            tracing::warn!(error = %e, "could not write the final audit checkpoint");
        }
        served
    });
    Ok((addr, task))
}

/// Runs `task` now and then every `every` (a run that overruns delays the
/// next), until `closed` turns `true`.
pub(crate) async fn every<F: Future<Output = ()>>(
    every: std::time::Duration,
    mut closed: tokio::sync::watch::Receiver<bool>,
    mut task: impl FnMut() -> F,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => task().await,
            changed = closed.changed() => {
                if changed.is_err() || *closed.borrow() {
                    return;
                }
            }
        }
    }
}

/// Writes a checkpoint of the engine's audit chains every checkpoint
/// interval, so an idle instance's newest events are covered too, until
/// `closed` turns `true`.
async fn checkpoint_audit_chains(engine: Mfa, closed: tokio::sync::watch::Receiver<bool>) {
    let interval = engine
        .policy()
        .audit
        .checkpoint_interval
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(60));
    every(interval, closed, || async {
        if let Err(e) = engine.checkpoint_audit().await {
            tracing::warn!(error = %e, "could not write an audit checkpoint");
        }
    })
    .await;
}

/// Runs [`Mfa::purge`] at start and then every `interval` (expired
/// challenges, tickets, sessions, rate-limit hits and push requests; users,
/// factors and devices deleted longer ago than the policy's retention),
/// logging what it removed, until `closed` turns `true`.
async fn purge_periodically(
    engine: Mfa,
    interval: std::time::Duration,
    closed: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(every_seconds = interval.as_secs(), "purge scheduled");
    every(interval, closed, || async {
        let started = std::time::Instant::now();
        match engine.purge().await {
            Ok(rows) => tracing::info!(
                rows,
                millis = started.elapsed().as_millis() as u64,
                "purge: expired and deleted rows removed"
            ),
            Err(e) => tracing::warn!(error = %e, "purge failed; the next run tries again"),
        }
    })
    .await;
}

/// Verifies the audit log of the store `MFA_*` configures, with the
/// configured keys (`mfa-server audit verify`).
///
/// # Errors
/// As [`build_state`], and a store error while reading.
pub async fn verify_audit() -> Result<mfa_core::audit::AuditReport, StartError> {
    let config = Config::from_env()?;
    let state = build_state(&config).await?;
    Ok(state.mfa.mfa.verify_audit().await?)
}

/// Moves every factor secret of the configured store to the current AEAD
/// key (`mfa-server keys rotate`): [`mfa_core::Mfa::reseal_all`] in
/// batches of `batch`, from the start or after `after` (to resume);
/// `progress` sees the running totals after each batch.
///
/// # Errors
/// As [`build_state`]; a bad batch size; a store error in a batch (the
/// batches before it stay done).
pub async fn reseal_secrets(
    after: Option<mfa_core::model::FactorId>,
    batch: u32,
    progress: impl FnMut(&mfa_core::ResealProgress) + Send,
) -> Result<mfa_core::ResealProgress, StartError> {
    let config = Config::from_env()?;
    let state = build_state(&config).await?;
    Ok(state.mfa.mfa.reseal_all(after, batch, progress).await?)
}

/// One line of `mfa-server keys rotate`'s progress: the running totals.
#[must_use]
pub fn reseal_line(p: &mfa_core::ResealProgress) -> String {
    let next = p
        .next
        .map_or_else(|| "end".to_owned(), |id| format!("after {id}"));
    format!(
        "scanned {} (resealed {}, already current {}, unreadable {}, contended {}); next: {next}",
        p.scanned,
        p.resealed,
        p.current,
        p.unreadable.len(),
        p.contended.len()
    )
}

/// Retires the AEAD key `key_id` once nothing is sealed under it
/// (`mfa-server keys retire`); returns how many sealed factors were
/// checked.
///
/// # Errors
/// As [`build_state`], and [`mfa_core::Mfa::retire_key`]'s refusals.
pub async fn retire_key(key_id: u32) -> Result<u64, StartError> {
    let config = Config::from_env()?;
    let state = build_state(&config).await?;
    Ok(state.mfa.mfa.retire_key(key_id).await?)
}

/// Verifies an archive file (`mfa-server audit verify --archive`) with the
/// configured keys.
///
/// # Errors
/// Missing keys, or the file cannot be opened.
pub fn verify_audit_archive(
    file: &std::path::Path,
) -> Result<mfa_core::audit::AuditReport, StartError> {
    let config = Config::from_env()?;
    let keys = keys::load(&config)?;
    let ring = keys.ring.ring()?;
    Ok(mfa_core::audit::archive::verify_archive(&ring, || {
        std::fs::File::open(file)
    })?)
}

/// Archives the audit events before `before` into `file`
/// (`mfa-server audit archive`); the file must not exist yet.
///
/// # Errors
/// As [`build_state`], an existing or unwritable file, and the archive's
/// own errors (nothing is removed then).
pub async fn archive_audit(
    before: chrono::DateTime<chrono::Utc>,
    file: &std::path::Path,
) -> Result<mfa_core::audit::archive::ArchiveSummary, Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    let state = build_state(&config).await?;
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)?;
    let out = std::io::BufWriter::new(Durable(out));
    let summary = state.mfa.mfa.archive_audit(before, out).await?;
    Ok(summary)
}

/// A file whose `flush` reaches the disk: the archive is flushed once,
/// when it is complete, and the events are removed from the store only
/// after that.
struct Durable(std::fs::File);

impl std::io::Write for Durable {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.0.sync_all()
    }
}

/// A verification report as text: one line of totals, then one line per
/// problem, or `intact`.
#[must_use]
pub fn audit_report_text(report: &mfa_core::audit::AuditReport) -> String {
    let mut text = format!(
        "audit log: {} chains, {} linked events, {} checkpoints, {} events without a link\n",
        report.chains, report.events, report.checkpoints, report.unlinked
    );
    if report.is_intact() {
        text.push_str("intact");
    } else {
        text.push_str(&format!("{} problems:", report.problems.len()));
        for problem in &report.problems {
            text.push_str(&format!("\n  {problem}"));
        }
    }
    text
}

/// Starts the server in the background (tests, embedding).
///
/// # Errors
/// As [`build_state`], and a listen address that cannot be bound.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let (tx, rx) = oneshot::channel();
    let (addr, task) = serve(config, async {
        let _ = rx.await;
    })
    .await?;
    Ok(Server {
        addr,
        shutdown: tx,
        task,
    })
}

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
///
/// # Errors
/// As [`start`], and the server's I/O errors.
pub async fn run(config: Config) -> Result<(), StartError> {
    let (_, task) = serve(config, shutdown_signal()).await?;
    task.await.map_err(std::io::Error::other)??;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::NewUser;
    use mfa_core::clock::ManualClock;
    use mfa_core::crypto::{JwtKeys, KeyRing};
    use mfa_core::model::{AuditKind, Contact};
    use mfa_core::store::{AuditFilter, PageRequest};

    /// The `rows` of every purge the engine recorded, newest first.
    async fn purges(engine: &Mfa) -> Vec<u64> {
        let filter = AuditFilter {
            kinds: vec![AuditKind::Purged],
            ..AuditFilter::default()
        };
        let page = engine
            .audit_events(&filter, &PageRequest::first(100))
            .await
            .expect("audit events");
        page.items
            .iter()
            .map(|e| e.metadata["rows"].as_u64().expect("rows"))
            .collect()
    }

    /// The purge runs at start and then every interval (tokio's paused
    /// clock for the schedule, the engine's manual clock for what has
    /// expired), and stops with the service.
    #[tokio::test(start_paused = true)]
    async fn purge_runs_at_start_then_every_interval_until_the_service_stops() {
        let clock = Arc::new(ManualClock::default());
        let engine = Mfa::builder()
            .store(Arc::new(mfa_store_memory::MemoryStore::new()))
            .keys(KeyRing::generate())
            .tokens(
                JwtConfig::new("https://issuer.test", "api"),
                JwtKeys::generate_ed25519("k1").expect("a token key"),
            )
            .clock(clock.clone())
            .build()
            .expect("the engine builds");
        let user = engine
            .create_user(NewUser {
                identifier: "gone@example.test".into(),
                password: None,
                contact: Contact::default(),
            })
            .await
            .expect("a user");
        engine.delete_user(user.id).await.expect("deleted");
        let interval = Duration::from_secs(600);
        let (closing, closed) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(purge_periodically(engine.clone(), interval, closed));

        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            purges(&engine).await,
            [0],
            "one purge at start, within retention"
        );
        clock.advance(engine.policy().retention + chrono::TimeDelta::days(1));
        tokio::time::sleep(interval).await;
        let done = purges(&engine).await;
        assert_eq!(done.len(), 2, "a second purge one interval later");
        assert!(done[0] >= 1, "the deleted user is removed: {done:?}");

        closing.send(true).expect("the task listens");
        task.await.expect("the task ends");
        tokio::time::sleep(interval * 3).await;
        assert_eq!(purges(&engine).await.len(), 2, "no purge after the stop");
    }
}
