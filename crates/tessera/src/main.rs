//! The `tessera` command: serve the API and administer accounts.

mod config;
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
