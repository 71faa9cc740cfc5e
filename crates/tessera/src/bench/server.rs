//! The in-process servers: built exactly as `tessera serve` builds its server (default
//! configuration, the real router, connect info), one per kind the modes need (a store for the
//! session modes; an algorithm, with or without the verified-token cache, for the JWT modes),
//! each on `127.0.0.1:0`. Run this on the server runtime: the serving tasks stay there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tessera_core::clock::SystemClock;
use tessera_core::{Tessera, TesseraConfig};
use tokio::net::TcpListener;

use super::load::Endpoint;
use super::{Mode, Server, ServerKind, StoreKind};
use crate::config::Config;

/// Starts one server per kind the modes use (SQLite when none does, for the baseline) and
/// says which server each mode measures. The baseline goes to the first server started.
pub async fn start_all(modes: &[Mode], dir: &Path) -> anyhow::Result<BTreeMap<Mode, Server>> {
    let mut kinds: Vec<ServerKind> = modes.iter().filter_map(|m| m.server()).collect();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        kinds.push(ServerKind::Store(StoreKind::Sqlite));
    }
    let mut servers = BTreeMap::new();
    for kind in kinds {
        let server = start(kind, dir)
            .await
            .with_context(|| format!("could not start the in-process {} server", kind.label()))?;
        servers.insert(kind, server);
    }
    let first = servers
        .values()
        .next()
        .cloned()
        .context("no server was started")?;
    Ok(modes
        .iter()
        .map(|&mode| {
            let server = mode
                .server()
                .and_then(|k| servers.get(&k).cloned())
                .unwrap_or_else(|| first.clone());
            (mode, server)
        })
        .collect())
}

/// The configuration of a bench server: the defaults, on a free local port, with the store
/// of `kind` (a SQLite file of its own in `dir` for a JWT server).
fn config(kind: ServerKind, dir: &Path) -> Config {
    let database = match kind {
        ServerKind::Store(StoreKind::Sqlite) => {
            format!("sqlite://{}", dir.join("bench.db").display())
        }
        ServerKind::Store(StoreKind::Memory) => "memory:".to_owned(),
        ServerKind::Jwt(_) => {
            format!(
                "sqlite://{}",
                dir.join(format!("{}.db", kind.label())).display()
            )
        }
    };
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database,
        ..Config::default()
    }
}

/// The domain's configuration of a bench server: the defaults, but a JWT server signs with
/// its algorithm, and a cold one has no verified-token cache.
fn core_config(kind: ServerKind, config: &Config) -> TesseraConfig {
    let mut core = config.to_core();
    if let ServerKind::Jwt(jwt) = kind {
        core.jwt.algorithm = jwt.alg.algorithm();
        if !jwt.cached {
            core.jwt.cache_capacity = 0;
        }
    }
    core
}

/// Starts a server; it serves until the runtime shuts down.
async fn start(kind: ServerKind, dir: &Path) -> anyhow::Result<Server> {
    let config = config(kind, dir);
    let backend = tessera_store::connect(&config.database)
        .await
        .with_context(|| format!("could not open the store ({})", config.store_description()))?;
    let core = core_config(kind, &config);
    let tessera = Arc::new(
        Tessera::new(backend, Arc::new(SystemClock), &core)
            .await
            .context("could not start the domain services")?,
    );
    let app = tessera_axum::router(tessera.clone(), config.http());
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
    Ok(Server {
        endpoint: Arc::new(Endpoint::local(addr)?),
        tessera: Some(tessera),
        hashing: Some(core.password),
        runtime: Some(tokio::runtime::Handle::current()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::bench::{Jwt, JwtAlg};
    use tessera_core::key::Algorithm;

    #[test]
    fn bench_servers_use_the_defaults_but_the_store_and_port() {
        let dir = Path::new("/tmp/x");
        let sqlite = ServerKind::Store(StoreKind::Sqlite);
        let c = config(sqlite, dir);
        assert_eq!(c.database, "sqlite:///tmp/x/bench.db");
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.to_core(), Config::default().to_core());
        assert_eq!(core_config(sqlite, &c), Config::default().to_core());
        assert_eq!(
            config(ServerKind::Store(StoreKind::Memory), dir).database,
            "memory:"
        );
    }

    #[test]
    fn jwt_servers_differ_from_the_defaults_only_in_algorithm_and_cache() {
        let dir = Path::new("/tmp/x");
        let defaults = Config::default().to_core();
        for (alg, algorithm) in [
            (JwtAlg::Hs256, Algorithm::HS256),
            (JwtAlg::EdDsa, Algorithm::EdDSA),
            (JwtAlg::Es256, Algorithm::ES256),
            (JwtAlg::Rs256, Algorithm::RS256),
        ] {
            for cached in [true, false] {
                let kind = ServerKind::Jwt(Jwt { alg, cached });
                let c = config(kind, dir);
                assert_eq!(
                    c.database,
                    format!("sqlite:///tmp/x/{}.db", kind.label()),
                    "a file of its own"
                );
                let core = core_config(kind, &c);
                assert_eq!(core.jwt.algorithm, algorithm);
                assert_eq!(
                    core.jwt.cache_capacity,
                    if cached {
                        defaults.jwt.cache_capacity
                    } else {
                        0
                    }
                );
                let mut rest = core.clone();
                rest.jwt.algorithm = defaults.jwt.algorithm;
                rest.jwt.cache_capacity = defaults.jwt.cache_capacity;
                assert_eq!(rest, defaults);
            }
        }
        assert!(
            defaults.jwt.cache_capacity > 0,
            "warm servers keep the cache"
        );
    }
}
