//! A store in one SQLite file: the default for a single node.
//!
//! WAL journal, so readers never wait for the writer; `synchronous=NORMAL`, which in WAL mode
//! can lose the last commits on power loss but never corrupts; a 5 s busy timeout, so the
//! single writer slot is waited for rather than failed; foreign keys on, so deleting a user
//! deletes its sessions. Every operation is one SQL statement, hence atomic on its own.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tessera_core::account::{Email, PasswordHash, User, UserRecord};
use tessera_core::clock::from_unix;
use tessera_core::id::{SessionId, UserId};
use tessera_core::secret::SecretHash;
use tessera_core::session::{Device, SessionRecord};
use tessera_core::store::{
    SessionStore, Store, StoreError, ThrottleStore, ThrottleWindow, UserStore,
};
use time::{Duration, OffsetDateTime};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const MAX_CONNECTIONS: u32 = 8;
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);
/// How long a request waits for a free connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// The SQLite store.
pub struct SqliteStore {
    pool: SqlitePool,
    location: String,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl SqliteStore {
    /// Opens the database a `sqlite://PATH` or `sqlite:PATH` URL names (query options as sqlx
    /// reads them, e.g. `?mode=ro`), creating the file if missing, and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?;
        // An in-memory database lives only as long as a connection to it: keep exactly one.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::open_with(options, in_memory).await
    }

    /// Opens (creating if missing) and migrates the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(SqliteConnectOptions::new().filename(path), false).await
    }

    async fn open_with(options: SqliteConnectOptions, in_memory: bool) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let location = options.get_filename().display().to_string();
        let mut pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if in_memory {
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool.connect_with(options).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot open SQLite database {location}: {e}"))
        })?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot migrate SQLite database {location}: {e}"))
        })?;
        tracing::debug!(%location, "SQLite store open");
        Ok(Self { pool, location })
    }

    /// The connection pool, for tests and tools that read the tables directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection (checkpointing the WAL). Later operations fail as unavailable.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The one place where sqlx errors become store errors.
fn map_err(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        E::Database(db) if db.is_foreign_key_violation() => StoreError::Conflict(format!(
            "{} (the referenced user does not exist)",
            db.message()
        )),
        E::Database(db) => {
            // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), possibly as extended codes.
            let primary = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            if matches!(primary, Some(11 | 26)) {
                StoreError::Corrupt(db.to_string())
            } else {
                StoreError::Unavailable(db.to_string())
            }
        }
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. }
        | E::RowNotFound => StoreError::Corrupt(e.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn corrupt(what: &str, detail: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn parse_user_id(s: &str) -> Result<UserId, StoreError> {
    UserId::from_str(s).map_err(|e| corrupt(&format!("user id {s:?} is not a UUID"), e))
}

fn parse_session_id(s: &str) -> Result<SessionId, StoreError> {
    SessionId::from_str(s).map_err(|e| corrupt(&format!("session id {s:?} is not a UUID"), e))
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn throttle_count(count: i64) -> u32 {
    u32::try_from(count.max(0)).unwrap_or(u32::MAX)
}

type UserRow = (String, String, String, i64);

fn user_from_row((id, email, hash, created_at): UserRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user: User {
            id: parse_user_id(&id)?,
            email: Email::from_trusted(email),
            created_at: from_unix(created_at),
        },
        password_hash: PasswordHash::from_stored(hash),
    })
}

type SessionRow = (
    String,
    String,
    Vec<u8>,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

fn session_from_row(row: SessionRow) -> Result<SessionRecord, StoreError> {
    let (id, user_id, hash, created, seen, expires, idle, user_agent, ip) = row;
    Ok(SessionRecord {
        id: parse_session_id(&id)?,
        user_id: parse_user_id(&user_id)?,
        secret_hash: SecretHash::from_slice(&hash).ok_or_else(|| {
            corrupt(
                &format!("session {id}"),
                format_args!("secret hash has {} bytes, not 32", hash.len()),
            )
        })?,
        created_at: from_unix(created),
        last_seen_at: from_unix(seen),
        expires_at: from_unix(expires),
        idle_expires_at: from_unix(idle),
        device: Device { user_agent, ip },
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(user.user.id.to_string())
        .bind(user.user.email.as_str())
        .bind(user.password_hash.as_str())
        .bind(unix(user.user.created_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "SELECT id, email, password_hash, created_at FROM users WHERE email = ?1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(user_from_row)
        .transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "SELECT id, email, password_hash, created_at FROM users WHERE id = ?1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(user_from_row)
        .transpose()
    }

    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = ?1 WHERE id = ?2")
            .bind(hash.as_str())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "SELECT id, email, password_hash, created_at FROM users ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(|row| user_from_row(row).map(|r| r.user))
        .collect()
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, secret_hash, created_at, last_seen_at, \
             expires_at, idle_expires_at, user_agent, ip) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(&s.secret_hash.as_bytes()[..])
        .bind(unix(s.created_at))
        .bind(unix(s.last_seen_at))
        .bind(unix(s.expires_at))
        .bind(unix(s.idle_expires_at))
        .bind(s.device.user_agent.as_deref())
        .bind(s.device.ip.as_deref())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn session_by_hash(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT id, user_id, secret_hash, created_at, last_seen_at, expires_at, \
             idle_expires_at, user_agent, ip FROM sessions WHERE secret_hash = ?1",
        )
        .bind(&hash.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(session_from_row)
        .transpose()
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET last_seen_at = ?1, idle_expires_at = ?2 WHERE id = ?3",
        )
        .bind(unix(last_seen_at))
        .bind(unix(idle_expires_at))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT id, user_id, secret_hash, created_at, last_seen_at, expires_at, \
             idle_expires_at, user_agent, ip FROM sessions WHERE user_id = ?1 \
             ORDER BY created_at, id",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(session_from_row)
        .collect()
    }

    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ?1 AND user_id = ?2")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR id <> ?2)")
                .bind(user.to_string())
                .bind(keep.map(|k| k.to_string()))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE idle_expires_at <= ?1 OR expires_at <= ?1")
                .bind(unix(now))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn throttle_hit(
        &self,
        key: &str,
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<ThrottleWindow, StoreError> {
        let now = unix(now);
        let resets_at = now.saturating_add(window.whole_seconds());
        // One statement, so concurrent hits are serialised by SQLite's write lock and each
        // sees the count the previous one left. SET expressions all read the old row.
        let (count, resets_at) = sqlx::query_as::<_, (i64, i64)>(
            "INSERT INTO throttle (key, count, resets_at) VALUES (?1, 1, ?3) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN throttle.resets_at <= ?2 THEN 1 ELSE throttle.count + 1 END, \
               resets_at = CASE WHEN throttle.resets_at <= ?2 THEN ?3 ELSE throttle.resets_at END \
             RETURNING count, resets_at",
        )
        .bind(key)
        .bind(now)
        .bind(resets_at)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(ThrottleWindow {
            count: throttle_count(count),
            resets_at: from_unix(resets_at),
        })
    }

    async fn throttle_peek(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ThrottleWindow>, StoreError> {
        let row = sqlx::query_as::<_, (i64, i64)>(
            "SELECT count, resets_at FROM throttle WHERE key = ?1 AND resets_at > ?2",
        )
        .bind(key)
        .bind(unix(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(row.map(|(count, resets_at)| ThrottleWindow {
            count: throttle_count(count),
            resets_at: from_unix(resets_at),
        }))
    }

    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttle WHERE key = ?1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn purge_expired_throttles(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM throttle WHERE resets_at <= ?1")
            .bind(unix(now))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
