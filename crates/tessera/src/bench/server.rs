//! The in-process servers: built exactly as `tessera serve` builds its server (default
//! configuration, the real router, connect info), one per store the modes need, each on
//! `127.0.0.1:0`. Run this on the server runtime: the serving tasks stay there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tessera_core::Tessera;
use tessera_core::clock::SystemClock;
use tokio::net::TcpListener;

use super::load::Endpoint;
use super::{Mode, StoreKind};
use crate::config::Config;

/// Starts one server per store the modes use (SQLite when none does, for the baseline) and
/// says which endpoint each mode measures. The baseline goes to the first server started.
pub async fn start_all(
    modes: &[Mode],
    dir: &Path,
) -> anyhow::Result<BTreeMap<Mode, Arc<Endpoint>>> {
    let mut stores: Vec<StoreKind> = modes.iter().filter_map(|m| m.store()).collect();
    stores.sort();
    stores.dedup();
    if stores.is_empty() {
        stores.push(StoreKind::Sqlite);
    }
    let mut servers = BTreeMap::new();
    for store in stores {
        let addr = start(store, dir)
            .await
            .with_context(|| format!("could not start the in-process {} server", store.name()))?;
        servers.insert(store, Arc::new(Endpoint::local(addr)?));
    }
    let first = servers
        .values()
        .next()
        .cloned()
        .context("no server was started")?;
    Ok(modes
        .iter()
        .map(|&mode| {
            let endpoint = mode
                .store()
                .and_then(|s| servers.get(&s).cloned())
                .unwrap_or_else(|| first.clone());
            (mode, endpoint)
        })
        .collect())
}

/// The configuration of a bench server: the defaults, on a free local port, with `store`.
fn config(store: StoreKind, dir: &Path) -> Config {
    let database = match store {
        StoreKind::Sqlite => format!("sqlite://{}", dir.join("bench.db").display()),
        StoreKind::Memory => "memory:".to_owned(),
    };
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database,
        ..Config::default()
    }
}

/// Starts a server and returns where it listens; it serves until the runtime shuts down.
async fn start(store: StoreKind, dir: &Path) -> anyhow::Result<SocketAddr> {
    let config = config(store, dir);
    let backend = tessera_store::connect(&config.database)
        .await
        .with_context(|| format!("could not open the store ({})", config.store_description()))?;
    let tessera = Arc::new(
        Tessera::new(backend, Arc::new(SystemClock), &config.to_core())
            .await
            .context("could not start the domain services")?,
    );
    let app = tessera_axum::router(tessera, config.http());
    let listener = TcpListener::bind(config.listen)
        .await
        .context("could not listen on 127.0.0.1")?;
    let addr = listener
        .local_addr()
        .context("could not read the bound address")?;
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the bench server failed");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn bench_servers_use_the_defaults_but_the_store_and_port() {
        let dir = Path::new("/tmp/x");
        let c = config(StoreKind::Sqlite, dir);
        assert_eq!(c.database, "sqlite:///tmp/x/bench.db");
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.to_core(), Config::default().to_core());
        assert_eq!(config(StoreKind::Memory, dir).database, "memory:");
    }
}
