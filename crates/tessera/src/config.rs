//! The server's configuration: defaults < TOML file < `TESSERA_*` environment < command-line flags.
//!
//! Every invalid value stops the start with a message naming the key and where it came from
//! (`invalid value for key `session.idle_timeout` in environment variable
//! `TESSERA_SESSION__IDLE_TIMEOUT`: ...`). Values that deserialize are checked afterwards
//! against the rules that span keys, and those errors name their source the same way.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, de};
use tessera_axum::{HttpConfig, Redacted};
use tessera_core::TesseraConfig;
use tessera_core::account::HashingPolicy;
use tessera_core::duration_serde;
use tessera_core::jwt::JwtPolicy;
use tessera_core::key::Algorithm;
use tessera_core::session::SessionPolicy;
use tessera_core::throttle::ThrottlePolicy;
use time::Duration;

/// The file read from the working directory when no `--config` is given (if it exists).
pub const DEFAULT_FILE: &str = "tessera.toml";
/// Prefix of the environment variables that configure Tessera.
pub const ENV_PREFIX: &str = "TESSERA_";
/// Largest `jwt.verify_batch`: beyond about 16 a batch costs no less per signature, and every
/// request in it waits for the whole batch.
pub const MAX_VERIFY_BATCH: usize = 64;

/// Everything `tessera serve` can be told. Field names are part of the interface (DESIGN.md,
/// "Configuration names"): tests, docs and deployments rely on them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to bind.
    pub listen: SocketAddr,
    /// The URL clients use to reach this server; `https` makes cookies `Secure`.
    #[serde(deserialize_with = "text")]
    pub public_url: String,
    /// `sqlite://PATH` (relative to the working directory) or `memory:`.
    #[serde(deserialize_with = "text")]
    pub database: String,
    /// `redis://…`; accepted and checked, not used yet.
    #[serde(deserialize_with = "optional_text")]
    pub redis: Option<String>,
    /// Bearer secret for `/v1/token/introspect`; unset disables introspection.
    #[serde(deserialize_with = "optional_secret")]
    pub introspection_secret: Option<Secret>,
    /// Bearer secret for `/metrics`; unset serves the metrics to anyone, like `/healthz`.
    #[serde(deserialize_with = "optional_secret")]
    pub metrics_secret: Option<Secret>,
    /// Proxies whose `X-Forwarded-For` is believed: CIDR networks or single addresses.
    #[serde(deserialize_with = "proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// `text` (for people) or `json` (for log collectors).
    pub log_format: LogFormat,
    pub session: SessionConfig,
    pub password: HashingPolicy,
    pub limits: ThrottlePolicy,
    pub jwt: JwtConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            database: "sqlite://tessera.db".into(),
            redis: None,
            introspection_secret: None,
            metrics_secret: None,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            session: SessionConfig::default(),
            password: HashingPolicy::default(),
            limits: ThrottlePolicy::default(),
            jwt: JwtConfig::default(),
        }
    }
}

/// `[session]`: the core's [`SessionPolicy`] plus the cookie's name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends (sliding).
    #[serde(with = "duration_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    #[serde(with = "duration_serde")]
    pub absolute_timeout: Duration,
    /// Use is written to the store at most this often per session.
    #[serde(with = "duration_serde")]
    pub touch_interval: Duration,
    /// How long a looked-up session may be served from memory; 0 disables the cache.
    #[serde(with = "duration_serde")]
    pub cache_ttl: Duration,
    /// Most sessions the cache holds.
    pub cache_capacity: usize,
    /// Name of the session cookie.
    #[serde(deserialize_with = "text")]
    pub cookie_name: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        let p = SessionPolicy::default();
        Self {
            idle_timeout: p.idle_timeout,
            absolute_timeout: p.absolute_timeout,
            touch_interval: p.touch_interval,
            cache_ttl: p.cache_ttl,
            cache_capacity: p.cache_capacity,
            cookie_name: "tessera_session".into(),
        }
    }
}

/// `[jwt]`: JWT mode. Read and checked now so that configuration files written today keep
/// working when JWT mode arrives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Signing algorithm of new keys.
    pub algorithm: JwtAlgorithm,
    /// `iss` of access tokens; unset means the public URL.
    #[serde(deserialize_with = "optional_text")]
    pub issuer: Option<String>,
    /// `aud` of access tokens; unset means the issuer.
    #[serde(deserialize_with = "optional_text")]
    pub audience: Option<String>,
    /// Lifetime of an access token.
    #[serde(with = "duration_serde")]
    pub access_ttl: Duration,
    /// Lifetime of a refresh family without use.
    #[serde(with = "duration_serde")]
    pub refresh_ttl: Duration,
    /// How long a rotated refresh token may be presented again by a racing client.
    #[serde(with = "duration_serde")]
    pub reuse_grace: Duration,
    /// Clock skew tolerated when checking `exp` and `iat`.
    #[serde(with = "duration_serde")]
    pub leeway: Duration,
    /// Most Ed25519 signatures of concurrent requests checked as one batch; 1 checks each
    /// alone.
    pub verify_batch: usize,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            algorithm: JwtAlgorithm::EdDsa,
            issuer: None,
            audience: None,
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            reuse_grace: Duration::seconds(10),
            leeway: Duration::seconds(30),
            verify_batch: tessera_core::key::DEFAULT_MAX_BATCH,
        }
    }
}

/// The JWS algorithms JWT mode will offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    #[serde(rename = "EdDSA")]
    EdDsa,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "HS256")]
    Hs256,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A configured secret: redacted in `Debug`, so printing the configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the code that uses it.
    #[allow(dead_code)] // Used by JWT mode's introspection endpoint, which comes later.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Values given on the command line; they win over every other source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

impl Provider for Overrides {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flag").interpolater(|_: &Profile, keys: &[&str]| {
            format!("--{}", keys.join("-").replace('_', "-"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(self).data()
    }
}

/// `TESSERA_*` variables with `__` for nesting, named in errors as the user wrote them.
struct EnvVars;

impl EnvVars {
    fn env() -> Env {
        // TESSERA_TEST_* are for test suites, TESSERA_LOG is the log filter (read by
        // telemetry), TESSERA_CONFIG is `--config`: none of them is a configuration key.
        Env::prefixed(ENV_PREFIX)
            .filter(|k| !k.starts_with("test_") && k != "log" && k != "config")
            .split("__")
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_: &Profile, keys: &[&str]| {
            format!("{ENV_PREFIX}{}", keys.join("__").to_ascii_uppercase())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Self::env().data()
    }
}

/// A configuration that cannot be used; the message says which key, from where, and why.
#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads the configuration: defaults, then `file` (which must exist) or `./tessera.toml`
    /// (if it exists), then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let figment = Self::figment(file, overrides)?;
        Self::from_figment(&figment)
    }

    /// The layered sources, not yet extracted.
    pub fn figment(file: Option<&Path>, overrides: &Overrides) -> Result<Figment, ConfigError> {
        let file: Option<PathBuf> = match file {
            Some(path) if path.is_file() => Some(path.to_owned()),
            Some(path) => {
                return Err(ConfigError(format!(
                    "the configuration file `{}` does not exist or is not a file",
                    path.display()
                )));
            }
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        };
        let mut figment = Figment::new();
        if let Some(path) = file {
            // `file_exact`: `Toml::file` would also search the parent directories.
            figment = figment.merge(Toml::file_exact(path));
        }
        Ok(figment.merge(EnvVars).merge(overrides.clone()))
    }

    /// Extracts and checks a configuration.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let config: Self = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        config
            .check()
            .map_err(|(key, why)| ConfigError(describe(rule_error(figment, key, why))))?;
        Ok(config)
    }

    /// The rules a value can break only in relation to others, or that serde does not know.
    /// Returns the key to blame and why.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = |key, d: Duration| {
            if d > Duration::ZERO {
                Ok(())
            } else {
                Err((key, "must be longer than zero".to_owned()))
            }
        };
        check_public_url(&self.public_url).map_err(|e| ("public_url", e))?;
        check_database(&self.database).map_err(|e| ("database", e))?;
        if let Some(redis) = &self.redis {
            check_redis(redis).map_err(|e| ("redis", e))?;
        }
        for (key, secret) in [
            ("introspection_secret", &self.introspection_secret),
            ("metrics_secret", &self.metrics_secret),
        ] {
            if secret.as_ref().is_some_and(|s| s.0.is_empty()) {
                return Err((key, "must not be empty".into()));
            }
        }

        let s = &self.session;
        positive("session.idle_timeout", s.idle_timeout)?;
        if s.absolute_timeout < s.idle_timeout {
            return Err((
                "session.absolute_timeout",
                format!(
                    "must be at least session.idle_timeout ({} < {})",
                    human(s.absolute_timeout),
                    human(s.idle_timeout)
                ),
            ));
        }
        if s.touch_interval >= s.idle_timeout {
            return Err((
                "session.touch_interval",
                format!(
                    "must be shorter than session.idle_timeout ({})",
                    human(s.idle_timeout)
                ),
            ));
        }
        check_cookie_name(&s.cookie_name).map_err(|e| ("session.cookie_name", e))?;

        let p = &self.password;
        if p.iterations == 0 {
            return Err(("password.iterations", "must be at least 1".into()));
        }
        if p.parallelism == 0 || p.parallelism > 0xFF_FFFF {
            return Err((
                "password.parallelism",
                "must be between 1 and 16777215".into(),
            ));
        }
        if u64::from(p.memory_kib) < 8 * u64::from(p.parallelism) {
            return Err((
                "password.memory_kib",
                "must be at least 8 times password.parallelism (argon2's minimum)".into(),
            ));
        }

        positive("limits.window", self.limits.window)?;
        if self.limits.per_account == 0 {
            return Err(("limits.per_account", "must be at least 1".into()));
        }
        if self.limits.per_address == 0 {
            return Err(("limits.per_address", "must be at least 1".into()));
        }

        let j = &self.jwt;
        for (key, value) in [("jwt.issuer", &j.issuer), ("jwt.audience", &j.audience)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err((
                    key,
                    "must not be empty (leave it out for the default)".into(),
                ));
            }
        }
        positive("jwt.access_ttl", j.access_ttl)?;
        if j.refresh_ttl <= j.access_ttl {
            return Err((
                "jwt.refresh_ttl",
                format!(
                    "must be longer than jwt.access_ttl ({})",
                    human(j.access_ttl)
                ),
            ));
        }
        if j.reuse_grace >= j.refresh_ttl {
            return Err((
                "jwt.reuse_grace",
                "must be shorter than jwt.refresh_ttl".into(),
            ));
        }
        if j.leeway >= j.access_ttl {
            return Err(("jwt.leeway", "must be shorter than jwt.access_ttl".into()));
        }
        if !(1..=MAX_VERIFY_BATCH).contains(&j.verify_batch) {
            return Err((
                "jwt.verify_batch",
                format!(
                    "must be from 1 (each signature alone) to {MAX_VERIFY_BATCH}: a batch's \
                     requests all wait for its last signature"
                ),
            ));
        }
        Ok(())
    }

    /// The domain's part of the configuration.
    pub fn to_core(&self) -> TesseraConfig {
        let s = &self.session;
        TesseraConfig {
            session: SessionPolicy {
                idle_timeout: s.idle_timeout,
                absolute_timeout: s.absolute_timeout,
                touch_interval: s.touch_interval,
                cache_ttl: s.cache_ttl,
                cache_capacity: s.cache_capacity,
            },
            password: self.password,
            limits: self.limits,
            jwt: self.jwt_policy(),
        }
    }

    /// JWT mode's part: the issuer defaults to the public URL, the audience to the issuer.
    pub fn jwt_policy(&self) -> JwtPolicy {
        let j = &self.jwt;
        let issuer = j
            .issuer
            .clone()
            .unwrap_or_else(|| self.public_url.trim_end_matches('/').to_owned());
        JwtPolicy {
            algorithm: match j.algorithm {
                JwtAlgorithm::EdDsa => Algorithm::EdDSA,
                JwtAlgorithm::Es256 => Algorithm::ES256,
                JwtAlgorithm::Rs256 => Algorithm::RS256,
                JwtAlgorithm::Hs256 => Algorithm::HS256,
            },
            audience: j.audience.clone().unwrap_or_else(|| issuer.clone()),
            issuer,
            access_ttl: j.access_ttl,
            refresh_ttl: j.refresh_ttl,
            reuse_grace: j.reuse_grace,
            leeway: j.leeway,
            verify_batch: j.verify_batch,
            ..JwtPolicy::default()
        }
    }

    /// The HTTP layer's part of the configuration.
    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            cookie_name: self.session.cookie_name.clone(),
            secure_cookies: self.secure_cookies(),
            trusted_proxies: self.trusted_proxies.clone(),
            public_url: self.public_url.clone(),
            introspection_secret: self
                .introspection_secret
                .as_ref()
                .map(|s| Redacted::new(s.expose())),
            metrics_secret: self
                .metrics_secret
                .as_ref()
                .map(|s| Redacted::new(s.expose())),
        }
    }

    /// Whether cookies get `Secure`: the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        scheme(&self.public_url).is_some_and(|s| s.eq_ignore_ascii_case("https"))
    }

    /// Whether the store forgets everything when the process exits.
    pub fn is_ephemeral(&self) -> bool {
        match database_kind(&self.database) {
            Some(Database::Memory) => true,
            Some(Database::Sqlite(path)) => path == ":memory:",
            None => false,
        }
    }

    /// The store in words, without anything secret: `sqlite ./tessera.db`, `memory`.
    pub fn store_description(&self) -> String {
        match database_kind(&self.database) {
            Some(Database::Memory) => "memory, kept only while the process runs".into(),
            Some(Database::Sqlite(path)) if path == ":memory:" => {
                "sqlite in memory, kept only while the process runs".into()
            }
            Some(Database::Sqlite(path)) if Path::new(&path).is_absolute() => {
                format!("sqlite {path}")
            }
            Some(Database::Sqlite(path)) if path.starts_with("./") || path.starts_with("../") => {
                format!("sqlite {path}")
            }
            Some(Database::Sqlite(path)) => format!("sqlite ./{path}"),
            None => "unknown".into(),
        }
    }
}

/// A duration the way the configuration writes it (`30m`, `12h`).
pub fn human(d: Duration) -> String {
    humantime::format_duration(std::time::Duration::try_from(d).unwrap_or_default()).to_string()
}

enum Database {
    Memory,
    Sqlite(String),
}

fn scheme(url: &str) -> Option<&str> {
    url.split_once(':').map(|(s, _)| s)
}

fn database_kind(url: &str) -> Option<Database> {
    let (scheme, rest) = url.split_once(':')?;
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => Some(Database::Memory),
        "sqlite" => {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split_once('?').map_or(rest, |(p, _)| p);
            Some(Database::Sqlite(path.to_owned()))
        }
        _ => None,
    }
}

fn check_database(url: &str) -> Result<(), String> {
    // Only the scheme is ever echoed: the rest of a database URL may hold a password.
    let Some(scheme) = scheme(url) else {
        return Err("must be a URL such as `sqlite://tessera.db` or `memory:`".into());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "memory" if matches!(&url[scheme.len()..], ":" | "://") => Ok(()),
        "memory" => Err("a memory store takes no path or options: use `memory:`".into()),
        "sqlite" => match database_kind(url) {
            Some(Database::Sqlite(path)) if !path.is_empty() => Ok(()),
            _ => Err("needs a file: `sqlite://PATH`".into()),
        },
        "postgres" | "postgresql" => {
            Err("postgres is not supported yet: use `sqlite://PATH` or `memory:`".into())
        }
        other => Err(format!(
            "unsupported scheme `{other}`: use `sqlite://PATH` or `memory:`"
        )),
    }
}

fn check_public_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "must be an absolute http:// or https:// URL".to_owned())?;
    let scheme_ok = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) {
        return Err("must be an absolute http:// or https:// URL".into());
    }
    if uri.query().is_some() {
        return Err("must not have a query".into());
    }
    Ok(())
}

fn check_redis(url: &str) -> Result<(), String> {
    let bad = || "must be a redis:// or rediss:// URL with a host".to_owned();
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let scheme_ok = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("redis") || s.eq_ignore_ascii_case("rediss"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(())
}

fn check_cookie_name(name: &str) -> Result<(), String> {
    // RFC 6265 cookie-name = token (RFC 9110): visible ASCII except separators.
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(token) {
        return Err("must be 1 to 64 letters, digits or `!#$%&'*+-.^_`|~` (an HTTP token)".into());
    }
    Ok(())
}

/// A rule error for `key`, with the metadata of the source that set it (none: a default).
fn rule_error(figment: &Figment, key: &str, why: String) -> figment::Error {
    let mut error = figment::Error::from(why).with_path(key);
    error.metadata = figment.find_metadata(key).cloned();
    error.profile = Some(figment.profile().clone());
    error
}

/// One line per error: the key, where its value came from, what is wrong.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let unknown = matches!(e.kind, figment::error::Kind::UnknownField(..));
            let source = match (&e.metadata, &e.profile) {
                (Some(md), Some(profile)) => {
                    let native = md.interpolate(profile, &e.path);
                    match &md.source {
                        Some(figment::Source::File(path)) => {
                            format!("{} `{}`", md.name, path.display())
                        }
                        _ if e.path.is_empty() => md.name.to_string(),
                        // An unknown env key may be the start of a longer variable name.
                        _ if unknown => format!("{} `{native}*`", md.name),
                        _ => format!("{} `{native}`", md.name),
                    }
                }
                (Some(md), None) => md.name.to_string(),
                (None, _) if key.is_empty() => "the configuration".into(),
                (None, _) => "the defaults".into(),
            };
            match &e.kind {
                // The path already ends with the unknown field.
                figment::error::Kind::UnknownField(_, expected) => format!(
                    "unknown key `{key}` in {source} (known keys here: {})",
                    expected.join(", ")
                ),
                kind if key.is_empty() => format!("{source}: {kind}"),
                kind => format!("invalid value for key `{key}` in {source}: {kind}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A string, also from an environment variable that figment read as a number or a boolean
/// (`TESSERA_INTROSPECTION_SECRET=12345` is still a string to us).
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Text;
    impl de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_char<E: de::Error>(self, v: char) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(Text)
}

#[derive(Deserialize)]
struct TextValue(#[serde(deserialize_with = "text")] String);

fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<TextValue>::deserialize(d)?.map(|t| t.0))
}

fn optional_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(optional_text(d)?.map(Secret))
}

/// A list of networks or addresses, or one comma-separated string of them (handy in an
/// environment variable). A bare address means just that host.
fn proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<TextValue>),
        One(TextValue),
    }
    let entries: Vec<String> = match Raw::deserialize(d)? {
        Raw::List(list) => list.into_iter().map(|t| t.0).collect(),
        Raw::One(one) => one
            .0
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    entries
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    de::Error::custom(format!(
                        "`{entry}` is not an IP address or a CIDR network such as 10.0.0.0/8"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    // figment::Jail's closures return figment's (large) error type; that is its API.
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::result_large_err
    )]

    use super::*;
    use figment::Jail;

    fn load() -> Result<Config, ConfigError> {
        Config::load(None, &Overrides::default())
    }

    /// The error text of a load that must fail.
    fn load_err(file: Option<&Path>, overrides: &Overrides) -> String {
        match Config::load(file, overrides) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn jail(f: impl FnOnce(&mut Jail) -> Result<(), String>) {
        Jail::expect_with(|jail| {
            jail.clear_env();
            f(jail).map_err(figment::Error::from)
        });
    }

    #[test]
    fn defaults_are_safe_and_as_documented() {
        jail(|_| {
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c, Config::default());
            assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(c.public_url, "http://127.0.0.1:8080");
            assert_eq!(c.database, "sqlite://tessera.db");
            assert_eq!(c.store_description(), "sqlite ./tessera.db");
            assert_eq!(c.session.idle_timeout, Duration::minutes(30));
            assert_eq!(c.session.absolute_timeout, Duration::hours(12));
            assert_eq!(c.session.cookie_name, "tessera_session");
            assert_eq!(c.jwt.algorithm, JwtAlgorithm::EdDsa);
            assert_eq!(c.jwt.access_ttl, Duration::minutes(15));
            assert_eq!(c.jwt.refresh_ttl, Duration::days(30));
            assert_eq!(c.jwt.reuse_grace, Duration::seconds(10));
            assert_eq!(c.jwt.leeway, Duration::seconds(30));
            assert_eq!(c.jwt.verify_batch, 16);
            assert_eq!(c.log_format, LogFormat::Text);
            assert!(!c.secure_cookies());
            assert_eq!(c.to_core(), TesseraConfig::default());
            let http = c.http();
            assert_eq!(http.cookie_name, "tessera_session");
            assert!(!http.secure_cookies);
            assert!(http.trusted_proxies.is_empty());
            Ok(())
        });
    }

    #[test]
    fn file_then_env_then_flags() {
        jail(|jail| {
            jail.create_file(
                "tessera.toml",
                r#"
                listen = "127.0.0.1:1111"
                database = "sqlite://from-file.db"
                public_url = "https://auth.example.com"
                [session]
                idle_timeout = "10m"
                cookie_name = "sid"
                "#,
            )
            .map_err(|e| e.to_string())?;
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 1111);
            assert_eq!(c.database, "sqlite://from-file.db");
            assert_eq!(c.session.idle_timeout, Duration::minutes(10));
            assert!(c.secure_cookies() && c.http().secure_cookies);
            assert_eq!(c.http().cookie_name, "sid");

            jail.set_env("TESSERA_LISTEN", "127.0.0.1:2222");
            jail.set_env("TESSERA_DATABASE", "memory:");
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 2222);
            assert_eq!(c.database, "memory:");
            assert_eq!(c.public_url, "https://auth.example.com", "file value kept");

            let flags = Overrides {
                listen: Some("127.0.0.1:3333".into()),
                log_format: Some(LogFormat::Json),
                ..Overrides::default()
            };
            let c = Config::load(None, &flags).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 3333);
            assert_eq!(c.database, "memory:", "env value kept");
            assert_eq!(c.log_format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn nested_env_and_humantime_durations() {
        jail(|jail| {
            jail.set_env("TESSERA_SESSION__IDLE_TIMEOUT", "45m");
            jail.set_env("TESSERA_SESSION__ABSOLUTE_TIMEOUT", "1h 30m");
            jail.set_env("TESSERA_SESSION__TOUCH_INTERVAL", "90");
            jail.set_env("TESSERA_LIMITS__PER_ACCOUNT", "5");
            jail.set_env("TESSERA_LIMITS__WINDOW", "900s");
            jail.set_env("TESSERA_JWT__REFRESH_TTL", "7d");
            jail.set_env("TESSERA_JWT__ALGORITHM", "ES256");
            jail.set_env("TESSERA_JWT__VERIFY_BATCH", "1");
            jail.set_env("TESSERA_PASSWORD__MEMORY_KIB", "4096");
            jail.set_env("TESSERA_INTROSPECTION_SECRET", "12345");
            jail.set_env("TESSERA_METRICS_SECRET", "67890");
            jail.set_env("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7");
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.session.idle_timeout, Duration::minutes(45));
            assert_eq!(c.session.absolute_timeout, Duration::minutes(90));
            assert_eq!(c.session.touch_interval, Duration::seconds(90));
            assert_eq!(c.limits.per_account, 5);
            assert_eq!(c.limits.window, Duration::minutes(15));
            assert_eq!(c.jwt.refresh_ttl, Duration::days(7));
            assert_eq!(c.jwt.algorithm, JwtAlgorithm::Es256);
            assert_eq!(c.jwt.verify_batch, 1);
            assert_eq!(c.jwt_policy().verify_batch, 1);
            assert_eq!(c.password.memory_kib, 4096);
            assert_eq!(
                c.introspection_secret.as_ref().map(Secret::expose),
                Some("12345")
            );
            assert!(
                !format!("{c:?}").contains("12345"),
                "secrets are redacted in Debug"
            );
            assert_eq!(
                c.http().metrics_secret.as_ref().map(|s| s.expose()),
                Some("67890")
            );
            assert!(!format!("{c:?}").contains("67890"));
            let proxies: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
            assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.7/32"]);
            jail.set_env("TESSERA_TRUSTED_PROXIES", "[10.1.0.0/16, \"::1\"]");
            let c = load().map_err(|e| e.to_string())?;
            let proxies: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
            assert_eq!(proxies, ["10.1.0.0/16", "::1/128"]);
            assert_eq!(c.to_core().session.idle_timeout, Duration::minutes(45));
            Ok(())
        });
    }

    #[test]
    fn lists_and_tables_in_the_file() {
        jail(|jail| {
            jail.create_file(
                "custom.toml",
                r#"
                trusted_proxies = ["127.0.0.1", "::1", "172.16.0.0/12"]
                redis = "redis://cache:6379/0"
                log_format = "json"
                [password]
                memory_kib = 8192
                iterations = 3
                [jwt]
                issuer = "https://auth.example.com"
                audience = "api"
                access_ttl = 300
                "#,
            )
            .map_err(|e| e.to_string())?;
            let c = Config::load(Some(Path::new("custom.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(c.trusted_proxies.len(), 3);
            assert_eq!(c.redis.as_deref(), Some("redis://cache:6379/0"));
            assert_eq!(c.log_format, LogFormat::Json);
            assert_eq!(c.password.memory_kib, 8192);
            assert_eq!(c.password.iterations, 3);
            assert_eq!(c.jwt.audience.as_deref(), Some("api"));
            assert_eq!(c.jwt.access_ttl, Duration::minutes(5));
            Ok(())
        });
    }

    #[test]
    fn a_bad_env_value_names_the_key_and_the_variable() {
        jail(|jail| {
            jail.set_env("TESSERA_SESSION__IDLE_TIMEOUT", "soon");
            let msg = load_err(None, &Overrides::default());
            assert!(msg.starts_with("invalid configuration: "), "{msg}");
            assert!(
                msg.contains(
                    "invalid value for key `session.idle_timeout` in environment variable \
                     `TESSERA_SESSION__IDLE_TIMEOUT`"
                ),
                "{msg}"
            );
            assert!(
                msg.contains("15m"),
                "the message shows the expected form: {msg}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_file_value_names_the_key_and_the_file() {
        jail(|jail| {
            jail.create_file("tessera.toml", "listen = \"localhost\"\n")
                .map_err(|e| e.to_string())?;
            let msg = load_err(None, &Overrides::default());
            assert!(
                msg.contains("invalid value for key `listen` in TOML file `tessera.toml`"),
                "{msg}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_flag_names_the_flag() {
        jail(|_| {
            let flags = Overrides {
                database: Some("postgres://u:hunter2@db/tessera".into()),
                ..Overrides::default()
            };
            let msg = load_err(None, &flags);
            assert!(
                msg.contains("invalid value for key `database` in command-line flag `--database`"),
                "{msg}"
            );
            assert!(msg.contains("postgres is not supported yet"), "{msg}");
            assert!(!msg.contains("hunter2"), "never echo a database URL: {msg}");

            let flags = Overrides {
                public_url: Some("auth.example.com".into()),
                ..Overrides::default()
            };
            let msg = load_err(None, &flags);
            assert!(
                msg.contains("`public_url` in command-line flag `--public-url`"),
                "{msg}"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        jail(|jail| {
            jail.create_file("tessera.toml", "[session]\nidel_timeout = \"10m\"\n")
                .map_err(|e| e.to_string())?;
            let msg = load_err(None, &Overrides::default());
            assert!(msg.contains("unknown key `session.idel_timeout`"), "{msg}");
            assert!(msg.contains("TOML file `tessera.toml`"), "{msg}");

            jail.create_file("tessera.toml", "lisen = \"127.0.0.1:1\"\n")
                .map_err(|e| e.to_string())?;
            let msg = load_err(None, &Overrides::default());
            assert!(msg.contains("unknown key `lisen`"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn unknown_env_keys_are_refused_but_test_and_log_variables_are_not_keys() {
        jail(|jail| {
            jail.set_env("TESSERA_TEST_POSTGRES", "postgres://u:p@localhost/test");
            jail.set_env("TESSERA_TEST_REDIS", "redis://localhost");
            jail.set_env("TESSERA_LOG", "debug");
            jail.set_env("TESSERA_CONFIG", "elsewhere.toml");
            assert_eq!(load().map_err(|e| e.to_string())?, Config::default());

            jail.set_env("TESSERA_SESION__IDLE_TIMEOUT", "10m");
            let msg = load_err(None, &Overrides::default());
            assert!(msg.contains("unknown key `sesion`"), "{msg}");
            assert!(
                msg.contains("environment variable `TESSERA_SESION*`"),
                "{msg}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error_but_a_missing_default_file_is_not() {
        jail(|_| {
            let msg = load_err(Some(Path::new("nope.toml")), &Overrides::default());
            assert!(msg.contains("`nope.toml` does not exist"), "{msg}");
            assert!(load().is_ok());
            Ok(())
        });
    }

    #[test]
    fn rules_across_keys_name_the_key_and_its_source() {
        jail(|jail| {
            jail.set_env("TESSERA_SESSION__IDLE_TIMEOUT", "0s");
            let msg = load_err(None, &Overrides::default());
            assert!(
                msg.contains(
                    "`session.idle_timeout` in environment variable \
                     `TESSERA_SESSION__IDLE_TIMEOUT`: must be longer than zero"
                ),
                "{msg}"
            );

            jail.set_env("TESSERA_SESSION__IDLE_TIMEOUT", "30m");
            jail.set_env("TESSERA_SESSION__ABSOLUTE_TIMEOUT", "10m");
            let msg = load_err(None, &Overrides::default());
            assert!(
                msg.contains(
                    "`session.absolute_timeout` in environment variable \
                     `TESSERA_SESSION__ABSOLUTE_TIMEOUT`: must be at least session.idle_timeout"
                ),
                "{msg}"
            );
            Ok(())
        });
    }

    #[test]
    fn other_bad_values_are_refused() {
        let cases: &[(&str, &str, &str)] = &[
            ("TESSERA_LISTEN", "8080", "listen"),
            ("TESSERA_DATABASE", "tessera.db", "database"),
            ("TESSERA_DATABASE", "sqlite://", "database"),
            ("TESSERA_DATABASE", "memory://x", "database"),
            ("TESSERA_REDIS", "http://cache", "redis"),
            ("TESSERA_PUBLIC_URL", "ftp://x", "public_url"),
            (
                "TESSERA_TRUSTED_PROXIES",
                "10.0.0.0/8,not-an-ip",
                "trusted_proxies",
            ),
            ("TESSERA_LOG_FORMAT", "xml", "log_format"),
            ("TESSERA_SESSION__COOKIE_NAME", "a b", "session.cookie_name"),
            (
                "TESSERA_SESSION__TOUCH_INTERVAL",
                "1h",
                "session.touch_interval",
            ),
            ("TESSERA_PASSWORD__ITERATIONS", "0", "password.iterations"),
            ("TESSERA_LIMITS__PER_ADDRESS", "-1", "limits.per_address"),
            ("TESSERA_JWT__ALGORITHM", "none", "jwt.algorithm"),
            ("TESSERA_JWT__REFRESH_TTL", "1m", "jwt.refresh_ttl"),
            ("TESSERA_JWT__VERIFY_BATCH", "0", "jwt.verify_batch"),
            ("TESSERA_JWT__VERIFY_BATCH", "1000", "jwt.verify_batch"),
            ("TESSERA_INTROSPECTION_SECRET", "", "introspection_secret"),
            ("TESSERA_METRICS_SECRET", "", "metrics_secret"),
        ];
        for (var, value, key) in cases {
            jail(|jail| {
                jail.set_env(var, value);
                let msg = load_err(None, &Overrides::default());
                assert!(msg.contains(&format!("`{key}`")), "{var}={value}: {msg}");
                assert!(msg.contains(&format!("`{var}`")), "{var}={value}: {msg}");
                Ok(())
            });
        }
    }

    #[test]
    fn store_descriptions() {
        let with = |db: &str| Config {
            database: db.into(),
            ..Config::default()
        };
        assert_eq!(
            with("sqlite:///var/lib/t.db").store_description(),
            "sqlite /var/lib/t.db"
        );
        assert_eq!(
            with("sqlite:data/t.db?mode=rwc").store_description(),
            "sqlite ./data/t.db"
        );
        assert!(with("memory:").store_description().starts_with("memory"));
    }
}
