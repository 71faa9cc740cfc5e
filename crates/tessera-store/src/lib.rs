//! Store implementations for Tessera, each behind a cargo feature, and the conformance suite
//! every store passes.
//!
//! - [`memory`] (feature `memory`): everything in one process's memory; for tests and demos.
//! - [`sqlite`] (feature `sqlite`): one file, WAL mode; the default for a single node.
//! - [`conformance`] (feature `conformance`): the cases every store must pass, and the
//!   [`conformance_tests!`] macro that turns them into tests for a store.
//!
//! [`connect`] picks a store from a database URL, so the rest of Tessera only sees
//! `Arc<dyn Store>`.

use std::sync::Arc;

use tessera_core::store::{Store, StoreError};

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "memory")]
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Opens the store a database URL names:
///
/// - `memory:` or `memory://`: a new, empty [`MemoryStore`];
/// - `sqlite://PATH` or `sqlite:PATH`, with optional `?query` (as sqlx reads it): a
///   [`SqliteStore`] on that file, created if missing and migrated.
///
/// Any other scheme is refused with [`StoreError::Unavailable`]. The message names only the
/// scheme, never the rest of the URL, which may hold a password.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
    match scheme.to_ascii_lowercase().as_str() {
        #[cfg(feature = "memory")]
        "memory" => match rest {
            "" | "//" => Ok(Arc::new(MemoryStore::new())),
            _ => Err(StoreError::Unavailable(
                "a memory store URL takes no path or options: use `memory:`".into(),
            )),
        },
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(SqliteStore::connect(url).await?)),
        _ => {
            let _ = rest;
            Err(StoreError::Unavailable(format!(
                "unsupported database URL scheme {scheme:?}: this build supports {}",
                supported()
            )))
        }
    }
}

/// The URL forms [`connect`] accepts in this build, for error messages.
fn supported() -> &'static str {
    match (cfg!(feature = "memory"), cfg!(feature = "sqlite")) {
        (true, true) => "`sqlite://PATH` and `memory:`",
        (false, true) => "`sqlite://PATH` (built without the memory store)",
        (true, false) => "`memory:` (built without SQLite)",
        (false, false) => "no store (built without the memory and sqlite features)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_schemes_are_refused_without_echoing_the_url() {
        let err = connect("postgres://admin:hunter2@db/tessera")
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Unavailable(_)));
        assert!(msg.contains("\"postgres\""), "{msg}");
        assert!(msg.contains("sqlite://"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");

        let err = connect("tessera.db").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn memory_urls() {
        assert_eq!(connect("memory:").await.unwrap().backend(), "memory");
        assert_eq!(connect("memory://").await.unwrap().backend(), "memory");
        assert_eq!(connect("MEMORY:").await.unwrap().backend(), "memory");
        assert!(connect("memory://somewhere").await.is_err());
    }
}
