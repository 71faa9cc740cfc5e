//! The `tessera` command: serve the API, administer accounts, measure.

mod bench;
mod config;
mod keys;
mod serve;
mod telemetry;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat, Overrides};

/// Tessera: an authentication server doing server-side sessions and JWTs.
///
/// Configuration comes from defaults, then a TOML file (`--config`, or `./tessera.toml` if it
/// exists), then `TESSERA_*` environment variables (`__` for nesting:
/// `TESSERA_SESSION__IDLE_TIMEOUT=30m`), then these flags. Logs go to stderr, filtered by
/// `TESSERA_LOG` (default `info,sqlx=warn`).
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Measure requests/s, latency and CPU per request of each auth mode, relative to
    /// GET /healthz, on in-process servers (default) or on a running server (--url).
    ///
    /// By default the servers run in this process with the default configuration and a fresh
    /// temporary SQLite database, on a tokio runtime of their own; the load generator has
    /// another. They share the machine's cores, so compare ratios, not raw numbers, across
    /// machines. The table goes to stdout, progress to stderr; the exit status is non-zero if
    /// any measured request failed.
    Bench(bench::BenchArgs),
    /// Manage the JWT signing keys. Running servers pick up changes within a second.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// Where the configuration and the store are; shared by every command.
#[derive(Debug, Args)]
struct ConfigArgs {
    /// TOML configuration file (must exist). Default: ./tessera.toml if it exists.
    #[arg(long, value_name = "FILE", env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or memory:.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on, such as 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The URL clients reach this server at; https makes cookies Secure.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Log line format.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List every key: kid, algorithm, state (next, active, retiring, retired), since when.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Rotate: the next key starts signing, the active one retires (still verifying until its
    /// tokens expire), and a new next key is published.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Retire a key now: tokens it signed are refused at once (for a key that leaked).
    Retire {
        /// The key's id, from `tessera keys list`. Base64url, so it may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Import a PKCS#8 PEM private key (Ed25519, P-256 or RSA) as the next key; the next
    /// rotation makes it sign.
    Import {
        /// The PEM file.
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account. The password is asked for on a terminal, or read as one line from
    /// stdin when it is not a terminal; never taken from the command line.
    Add {
        /// The account's email address.
        email: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List accounts: id, email, creation time.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

impl ConfigArgs {
    fn load(&self, overrides: Overrides) -> anyhow::Result<Config> {
        let overrides = Overrides {
            database: self.database.clone(),
            ..overrides
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.config.load(Overrides {
                listen: args.listen,
                public_url: args.public_url,
                log_format: args.log_format,
                database: None,
            })?;
            serve::run(config).await
        }
        Command::User(UserCommand::Add { email, config }) => {
            user::add(config.load(Overrides::default())?, &email).await
        }
        Command::User(UserCommand::List { config }) => {
            user::list(config.load(Overrides::default())?).await
        }
        Command::Bench(args) => bench::run(args).await,
        Command::Keys(KeysCommand::List { config }) => {
            keys::list(config.load(Overrides::default())?).await
        }
        Command::Keys(KeysCommand::Rotate { config }) => {
            keys::rotate(config.load(Overrides::default())?).await
        }
        Command::Keys(KeysCommand::Retire { kid, config }) => {
            keys::retire(config.load(Overrides::default())?, &kid).await
        }
        Command::Keys(KeysCommand::Import { file, config }) => {
            keys::import(config.load(Overrides::default())?, &file).await
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole chain on one line: "could not open the store (...): ...".
            eprintln!("tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
