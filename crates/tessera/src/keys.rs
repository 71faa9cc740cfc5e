//! `tessera keys list|rotate|retire|import`: the signing keys in the configured store.
//!
//! Running servers pick up every change within a second (they reload the key ring), so none
//! of these needs a restart.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use tessera_core::key::KeyPair;
use time::format_description::well_known::Rfc3339;

use crate::config::Config;
use crate::user::open;

/// `tessera keys list`: every key with its algorithm, state and since when.
pub async fn list(config: Config) -> anyhow::Result<()> {
    let tessera = open(&config).await?;
    let keys = tessera
        .store()
        .keys()
        .await
        .map_err(|e| anyhow::anyhow!("could not list keys: {e}"))?;
    let mut out =
        String::from("KID                                          ALG    STATE     SINCE\n");
    for k in &keys {
        let since = k
            .state_changed_at
            .format(&Rfc3339)
            .context("format a time")?;
        out.push_str(&format!(
            "{:<44} {:<6} {:<9} {since}\n",
            k.kid,
            k.algorithm,
            k.state.as_str()
        ));
    }
    out.push_str(&format!("{} key(s)\n", keys.len()));
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// `tessera keys rotate`: next → active, active → retiring, and a new next key.
pub async fn rotate(config: Config) -> anyhow::Result<()> {
    let tessera = open(&config).await?;
    tessera
        .tokens
        .rotate_keys()
        .await
        .map_err(|e| anyhow::anyhow!("could not rotate: {e}"))?;
    let ring = tessera.tokens.ring();
    let active = ring
        .signing_key()
        .map(|k| k.kid().to_owned())
        .unwrap_or_default();
    println!("rotated: {active} now signs; the previous key verifies until its tokens expire");
    Ok(())
}

/// `tessera keys retire KID`: the key stops verifying at once (for a key that leaked).
pub async fn retire(config: Config, kid: &str) -> anyhow::Result<()> {
    let tessera = open(&config).await?;
    tessera
        .tokens
        .retire_key(kid)
        .await
        .map_err(|e| anyhow::anyhow!("could not retire {kid}: {e}"))?;
    println!("retired {kid}: tokens it signed are refused from now on");
    Ok(())
}

/// `tessera keys import FILE`: a PKCS#8 PEM private key becomes the next key.
pub async fn import(config: Config, file: &Path) -> anyhow::Result<()> {
    let pem = std::fs::read_to_string(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    let key =
        KeyPair::from_pkcs8_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let tessera = open(&config).await?;
    let kid = tessera
        .tokens
        .import_key(key)
        .await
        .map_err(|e| anyhow::anyhow!("could not import: {e}"))?;
    println!("imported {kid} as the next key; `tessera keys rotate` makes it sign");
    Ok(())
}
