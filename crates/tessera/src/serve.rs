//! `tessera serve`: open the store, serve the API, purge what has expired, stop gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tessera_core::Tessera;
use tessera_core::clock::SystemClock;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, human};
use crate::telemetry;

/// How often expired sessions and throttle windows are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// How often revocations and keys are pulled from the store.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// How long in-flight requests get to finish after SIGINT/SIGTERM before the process exits
/// anyway (a client holding a connection open must not block a deploy forever).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init(config.log_format, telemetry::DEFAULT_FILTER)?;

    let store = tessera_store::connect(&config.database)
        .await
        .with_context(|| format!("could not open the store ({})", config.store_description()))?;
    let tessera = Arc::new(
        Tessera::new(store, Arc::new(SystemClock), &config.to_core())
            .await
            .context("could not start the domain services")?,
    );
    let app = tessera_axum::router(tessera.clone(), config.http());

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let local = listener
        .local_addr()
        .context("could not read the bound address")?;

    // The one line on stdout: scripts and tests wait for it, people read it. No secrets.
    println!("{}", listen_line(&config, local));
    tracing::info!(
        listen = %local,
        public_url = %config.public_url,
        store = %config.store_description(),
        "tessera started"
    );

    let purge = tokio::spawn(purge_forever(tessera.clone()));
    let sync = tokio::spawn(sync_forever(tessera));

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
    });

    let drain_deadline = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };

    let outcome = tokio::select! {
        served = server => served.context("the server failed"),
        () = drain_deadline => {
            tracing::warn!(after = ?DRAIN_TIMEOUT, "requests still open at shutdown; leaving them");
            Ok(())
        }
    };
    purge.abort();
    sync.abort();
    if outcome.is_ok() {
        tracing::info!("stopped");
    }
    outcome
}

/// `tessera listening on http://127.0.0.1:8080 (store: sqlite ./tessera.db; sessions: idle 30m, absolute 12h; jwt: EdDSA, access 15m)`
fn listen_line(config: &Config, local: SocketAddr) -> String {
    let mut uses = vec![
        format!("store: {}", config.store_description()),
        format!(
            "sessions: idle {}, absolute {}",
            human(config.session.idle_timeout),
            human(config.session.absolute_timeout)
        ),
        format!(
            "jwt: {}, access {}",
            config.to_core().jwt.algorithm,
            human(config.jwt.access_ttl)
        ),
    ];
    let listen_url = format!("http://{local}");
    if config.public_url.trim_end_matches('/') != listen_url {
        uses.push(format!("public url: {}", config.public_url));
    }
    if config.redis.is_some() {
        // Only the fact, never the URL: it may carry a password.
        uses.push("redis: configured but not used yet".into());
    }
    format!("tessera listening on {listen_url} ({})", uses.join("; "))
}

/// Deletes expired state every minute. A failure is logged and retried next time: a store
/// that is down for a while must not stop the server.
async fn purge_forever(tessera: Arc<Tessera>) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match tessera.purge_expired().await {
            Ok(p) => tracing::debug!(
                sessions = p.sessions,
                throttle_windows = p.throttle_windows,
                families = p.families,
                revocations = p.revocations,
                "purged expired state"
            ),
            Err(e) => tracing::warn!(error = %e, "could not purge expired state"),
        }
    }
}

/// Pulls revocations and key rotations made by other nodes (or by `tessera keys`) every
/// second, so they take effect here within about a second without a restart.
async fn sync_forever(tessera: Arc<Tessera>) {
    let mut every = tokio::time::interval(SYNC_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = tessera.tokens.sync().await {
            tracing::warn!(error = %e, "could not sync revocations and keys");
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (what `kill`, systemd and Docker send).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_line_says_where_and_what() {
        let config = Config::default();
        let line = listen_line(&config, config.listen);
        assert_eq!(
            line,
            "tessera listening on http://127.0.0.1:8080 \
             (store: sqlite ./tessera.db; sessions: idle 30m, absolute 12h; jwt: EdDSA, access 15m)"
        );

        let config = Config {
            redis: Some("redis://:hunter2@cache:6379".into()),
            public_url: "https://auth.example.com".into(),
            ..Config::default()
        };
        let line = listen_line(&config, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert!(line.contains("http://127.0.0.1:9000"), "{line}");
        assert!(
            line.contains("public url: https://auth.example.com"),
            "{line}"
        );
        assert!(
            line.contains("redis: configured but not used yet"),
            "{line}"
        );
        assert!(!line.contains("hunter2"), "{line}");
    }
}
