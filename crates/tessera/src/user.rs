//! `tessera user add|list`: account administration against the configured store.
//!
//! Passwords are read from the terminal (asked twice) or, when stdin is not a terminal, from
//! its first line; never from the command line, where `ps` and shell history would see them.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, bail};
use tessera_core::Tessera;
use tessera_core::account::{Email, User};
use tessera_core::clock::SystemClock;
use time::format_description::well_known::Rfc3339;

use crate::config::Config;
use crate::telemetry;

/// Opens the store and the domain services the way `serve` does.
pub async fn open(config: &Config) -> anyhow::Result<Tessera> {
    // Quiet by default: these commands print their result on stdout.
    telemetry::init(config.log_format, "warn")?;
    if config.is_ephemeral() {
        eprintln!(
            "note: the {} store keeps nothing after this command",
            config.database
        );
    }
    let store = tessera_store::connect(&config.database)
        .await
        .with_context(|| format!("could not open the store ({})", config.store_description()))?;
    Tessera::new(store, Arc::new(SystemClock), &config.to_core())
        .await
        .context("could not start the domain services")
}

/// `tessera user add EMAIL`.
pub async fn add(config: Config, email: &str) -> anyhow::Result<()> {
    // Refuse a bad email before anyone types a password for it.
    Email::parse(email).map_err(|e| anyhow::anyhow!("could not add the user: {e}"))?;
    let tessera = open(&config).await?;
    let password = read_password(email)?;
    let user = tessera
        .accounts
        .register(email, password)
        .await
        .map_err(|e| anyhow::anyhow!("could not add the user: {e}"))?;
    println!("added user {} <{}>", user.id, user.email);
    Ok(())
}

/// `tessera user list`: a table of id, email and creation time.
pub async fn list(config: Config) -> anyhow::Result<()> {
    let tessera = open(&config).await?;
    let users = tessera
        .accounts
        .list()
        .await
        .map_err(|e| anyhow::anyhow!("could not list users: {e}"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(table(&users)?.as_bytes())
        .and_then(|()| out.flush())
        .context("could not write to stdout")
}

fn table(users: &[User]) -> anyhow::Result<String> {
    let mut rows = vec![["ID".to_owned(), "EMAIL".to_owned(), "CREATED_AT".to_owned()]];
    for u in users {
        let created = u
            .created_at
            .format(&Rfc3339)
            .context("could not format a creation time")?;
        rows.push([u.id.to_string(), u.email.to_string(), created]);
    }
    let width = |col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut text = String::new();
    for [id, email, created] in &rows {
        text.push_str(&format!("{id:<w0$}  {email:<w1$}  {created}\n"));
    }
    let n = users.len();
    text.push_str(&format!("{n} user{}\n", if n == 1 { "" } else { "s" }));
    Ok(text)
}

/// The new password: prompted twice on a terminal, else the first line of stdin.
fn read_password(email: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {email}: "))
            .context("could not read the password")?;
        let second = rpassword::prompt_password("Repeat the password: ")
            .context("could not read the password")?;
        if first != second {
            bail!("the passwords do not match");
        }
        return Ok(first);
    }
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read the password from stdin")?;
    if read == 0 {
        bail!("no password on stdin: pipe it in as one line, or run from a terminal to be asked");
    }
    // Only the line ending goes: spaces may be part of a passphrase.
    let len = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(len);
    Ok(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use tessera_core::id::UserId;

    #[test]
    fn the_table_aligns_columns_and_counts() {
        let user = User {
            id: UserId::new(),
            email: Email::parse("a@example.com").unwrap(),
            created_at: time::macros::datetime!(2025-01-02 03:04:05 UTC),
        };
        let text = table(&[user]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID "), "{text}");
        assert_eq!(
            lines[0].find("EMAIL"),
            lines[1].find("a@example.com"),
            "{text}"
        );
        assert!(lines[1].ends_with("2025-01-02T03:04:05Z"), "{text}");
        assert_eq!(lines[2], "1 user");
        assert!(table(&[]).unwrap().ends_with("0 users\n"));
    }
}
