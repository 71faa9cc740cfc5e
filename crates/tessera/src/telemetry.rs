//! Logging: tracing to stderr, human-readable or JSON, filtered by `TESSERA_LOG`.
//!
//! Stdout is kept for what the commands print (the listen line, user tables), so scripts can
//! read it without log lines in between.

use std::io::IsTerminal;

use anyhow::{Context, anyhow};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The variable holding an `EnvFilter` directive (`debug`, `info,tessera_core=trace`).
pub const FILTER_ENV: &str = "TESSERA_LOG";

/// The filter when `TESSERA_LOG` is unset: sqlx logs every statement at info.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Installs the global subscriber. `default_filter` applies when `TESSERA_LOG` is unset.
pub fn init(format: LogFormat, default_filter: &str) -> anyhow::Result<()> {
    let filter = match std::env::var(FILTER_ENV) {
        // The parse error repeats its cause in `source()`; show it once.
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| anyhow!("{FILTER_ENV} is not a valid log filter: {e}"))?,
        _ => EnvFilter::try_new(default_filter).context("bad default log filter")?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow!("could not start logging: {e}"))
}
