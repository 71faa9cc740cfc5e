//! A store in one SQLite file: the default for a single node.
//!
//! WAL journal, so readers never wait for the writer; `synchronous=NORMAL`, which in WAL mode
//! can lose the last commits on power loss but never corrupts; a 5 s busy timeout, so the
//! single writer slot is waited for rather than failed; foreign keys on, so deleting a user
//! deletes its sessions. Every operation is one SQL statement, hence atomic on its own, or a
//! transaction whose first statement writes (so it takes the write lock before it reads
//! anything and cannot act on a stale snapshot): creating and rotating a refresh family,
//! changing key states together, purging families with their token hashes.

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
use tessera_core::id::{FamilyId, SessionId, UserId};
use tessera_core::refresh::{RefreshFamily, RefreshTokenRecord};
use tessera_core::secret::SecretHash;
use tessera_core::session::{Device, SessionRecord};
use tessera_core::store::{
    KeyMaterial, KeyState, KeyStateChange, KeyStore, RefreshStore, Revocation, RevocationChanges,
    RevocationStore, SessionStore, Store, StoreError, StoredKey, ThrottleStore, ThrottleWindow,
    UserStore,
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

    /// Revokes one family, only if it is `user`'s when a user is given. True only for the call
    /// that revoked it.
    async fn revoke_one_family(
        &self,
        id: FamilyId,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_families SET revoked_at = ?3 \
             WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2) AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .bind(user.map(|u| u.to_string()))
        .bind(unix(now))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
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

fn parse_family_id(s: &str) -> Result<FamilyId, StoreError> {
    FamilyId::from_str(s).map_err(|e| corrupt(&format!("family id {s:?} is not a UUID"), e))
}

fn generation(what: &str, g: i64) -> Result<u32, StoreError> {
    u32::try_from(g).map_err(|_| corrupt(what, format_args!("generation {g} is out of range")))
}

/// The columns of a family, in [`FamilyRow`] order, for `concat!` into static SQL.
macro_rules! family_columns {
    () => {
        "f.id, f.user_id, f.generation, f.created_at, f.last_used_at, f.rotated_at, \
         f.expires_at, f.revoked_at, f.user_agent, f.ip"
    };
}

type FamilyRow = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn family_from_row(row: FamilyRow) -> Result<RefreshFamily, StoreError> {
    let (id, user_id, g, created, used, rotated, expires, revoked, user_agent, ip) = row;
    Ok(RefreshFamily {
        generation: generation(&format!("refresh family {id}"), g)?,
        id: parse_family_id(&id)?,
        user_id: parse_user_id(&user_id)?,
        created_at: from_unix(created),
        last_used_at: from_unix(used),
        rotated_at: from_unix(rotated),
        expires_at: from_unix(expires),
        revoked_at: revoked.map(from_unix),
        device: Device { user_agent, ip },
    })
}

type KeyRow = (String, String, String, Vec<u8>, Option<String>, i64, i64);

fn key_from_row(row: KeyRow) -> Result<StoredKey, StoreError> {
    let (kid, algorithm, state, material, public_jwk, created, changed) = row;
    Ok(StoredKey {
        state: KeyState::from_str(&state).map_err(|e| corrupt(&format!("key {kid:?}"), e))?,
        kid,
        algorithm,
        material: KeyMaterial::from_vec(material),
        public_jwk,
        created_at: from_unix(created),
        state_changed_at: from_unix(changed),
    })
}

type RevocationRow = (String, String, Option<i64>, i64);

fn revocation_from_row((kind, key, at, until): RevocationRow) -> Result<Revocation, StoreError> {
    let until = from_unix(until);
    match (kind.as_str(), at) {
        ("deny", _) => Ok(Revocation::Denied { key, until }),
        ("cutoff", Some(at)) => Ok(Revocation::Cutoff {
            user: parse_user_id(&key)?,
            at: from_unix(at),
            until,
        }),
        _ => Err(corrupt(
            &format!("revocation {kind:?} {key:?}"),
            "unknown kind or missing cutoff time",
        )),
    }
}

fn version_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[async_trait]
impl RefreshStore for SqliteStore {
    async fn create_family(
        &self,
        f: &RefreshFamily,
        token_hash: &SecretHash,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id, generation, created_at, last_used_at, \
             rotated_at, expires_at, revoked_at, user_agent, ip) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .bind(f.id.to_string())
        .bind(f.user_id.to_string())
        .bind(i64::from(f.generation))
        .bind(unix(f.created_at))
        .bind(unix(f.last_used_at))
        .bind(unix(f.rotated_at))
        .bind(unix(f.expires_at))
        .bind(f.revoked_at.map(unix))
        .bind(f.device.user_agent.as_deref())
        .bind(f.device.ip.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query("INSERT INTO refresh_tokens (hash, family_id, generation) VALUES (?1, ?2, ?3)")
            .bind(&token_hash.as_bytes()[..])
            .bind(f.id.to_string())
            .bind(i64::from(f.generation))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        type TokenRow = (
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            Option<String>,
            Option<String>,
            i64,
        );
        let row = sqlx::query_as::<_, TokenRow>(concat!(
            "SELECT ",
            family_columns!(),
            ", t.generation FROM refresh_tokens t \
             JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?1"
        ))
        .bind(&hash.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some((a, b, c, d, e, f, g, h, i, j, token_generation)) = row else {
            return Ok(None);
        };
        let family = family_from_row((a, b, c, d, e, f, g, h, i, j))?;
        let generation = generation(
            &format!("refresh token of family {}", family.id),
            token_generation,
        )?;
        Ok(Some(RefreshTokenRecord { family, generation }))
    }

    async fn family(&self, id: FamilyId) -> Result<Option<RefreshFamily>, StoreError> {
        sqlx::query_as::<_, FamilyRow>(concat!(
            "SELECT ",
            family_columns!(),
            " FROM refresh_families f WHERE f.id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(family_from_row)
        .transpose()
    }

    async fn rotate_family(
        &self,
        id: FamilyId,
        from_generation: u32,
        next_hash: &SecretHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let Some(next) = from_generation.checked_add(1) else {
            return Ok(false);
        };
        // The conditional UPDATE is the compare-and-set: it is the transaction's first
        // statement, so it waits for SQLite's write lock and then sees the latest row; of
        // racing rotations, only the first matches `generation = from_generation`.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE refresh_families \
             SET generation = ?3, rotated_at = ?4, last_used_at = ?4, expires_at = ?5 \
             WHERE id = ?1 AND generation = ?2 AND revoked_at IS NULL AND expires_at > ?4",
        )
        .bind(id.to_string())
        .bind(i64::from(from_generation))
        .bind(i64::from(next))
        .bind(unix(now))
        .bind(unix(expires_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(map_err)?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO refresh_tokens (hash, family_id, generation) VALUES (?1, ?2, ?3)")
            .bind(&next_hash.as_bytes()[..])
            .bind(id.to_string())
            .bind(i64::from(next))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn revoke_family(&self, id: FamilyId, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.revoke_one_family(id, None, now).await
    }

    async fn revoke_family_of_user(
        &self,
        user: UserId,
        id: FamilyId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.revoke_one_family(id, Some(user), now).await
    }

    async fn revoke_families_of_user(
        &self,
        user: UserId,
        keep: Option<FamilyId>,
        now: OffsetDateTime,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let mut rows = sqlx::query_as::<_, (i64, String)>(
            "UPDATE refresh_families SET revoked_at = ?3 \
             WHERE user_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR id <> ?2) \
             RETURNING created_at, id",
        )
        .bind(user.to_string())
        .bind(keep.map(|k| k.to_string()))
        .bind(unix(now))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.sort_unstable();
        rows.iter().map(|(_, id)| parse_family_id(id)).collect()
    }

    async fn families_of_user(&self, user: UserId) -> Result<Vec<RefreshFamily>, StoreError> {
        sqlx::query_as::<_, FamilyRow>(concat!(
            "SELECT ",
            family_columns!(),
            " FROM refresh_families f WHERE f.user_id = ?1 ORDER BY f.created_at, f.id"
        ))
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(family_from_row)
        .collect()
    }

    async fn purge_families(&self, ended_by: OffsetDateTime) -> Result<u64, StoreError> {
        // The foreign key would cascade to the token hashes; deleting them explicitly keeps
        // the purge complete even on a connection opened without foreign keys.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE family_id IN (SELECT id FROM refresh_families \
             WHERE expires_at <= ?1 OR revoked_at <= ?1)",
        )
        .bind(unix(ended_by))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let done =
            sqlx::query("DELETE FROM refresh_families WHERE expires_at <= ?1 OR revoked_at <= ?1")
                .bind(unix(ended_by))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, state, material, public_jwk, created_at, \
             state_changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&k.kid)
        .bind(&k.algorithm)
        .bind(k.state.as_str())
        .bind(k.material.expose())
        .bind(k.public_jwk.as_deref())
        .bind(unix(k.created_at))
        .bind(unix(k.state_changed_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query_as::<_, KeyRow>(
            "SELECT kid, algorithm, state, material, public_jwk, created_at, state_changed_at \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(key_from_row)
        .collect()
    }

    async fn set_key_states(
        &self,
        changes: &[KeyStateChange],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if changes.is_empty() {
            return Ok(true);
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        for c in changes {
            let done = sqlx::query(
                "UPDATE signing_keys SET state = ?3, state_changed_at = ?4 \
                 WHERE kid = ?1 AND state = ?2",
            )
            .bind(&c.kid)
            .bind(c.from.as_str())
            .bind(c.to.as_str())
            .bind(unix(at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if done.rows_affected() == 0 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn delete_key(&self, kid: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = ?1")
            .bind(kid)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn server_secret(
        &self,
        name: &str,
        candidate: &KeyMaterial,
    ) -> Result<KeyMaterial, StoreError> {
        // One statement: the first writer inserts; every later one "updates" the row to itself,
        // which makes RETURNING hand back the bytes already stored.
        let material: Vec<u8> = sqlx::query_scalar(
            "INSERT INTO server_secrets (name, material) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET material = server_secrets.material \
             RETURNING material",
        )
        .bind(name)
        .bind(candidate.expose())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(KeyMaterial::from_vec(material))
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn deny(&self, key: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        // REPLACE deletes the old row and inserts a new one, which gets a new AUTOINCREMENT
        // version; an entry that is already at least as strong is left alone.
        sqlx::query(
            "INSERT OR REPLACE INTO revocations (kind, key, at, until) \
             SELECT 'deny', ?1, NULL, ?2 WHERE NOT EXISTS \
             (SELECT 1 FROM revocations WHERE kind = 'deny' AND key = ?1 AND until >= ?2)",
        )
        .bind(key)
        .bind(unix(until))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn set_cutoff(
        &self,
        user: UserId,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR REPLACE INTO revocations (kind, key, at, until) \
             SELECT 'cutoff', ?1, max(?2, coalesce(old.at, ?2)), max(?3, coalesce(old.until, ?3)) \
             FROM (SELECT 1) LEFT JOIN revocations AS old \
               ON old.kind = 'cutoff' AND old.key = ?1 \
             WHERE old.version IS NULL OR old.at < ?2 OR old.until < ?3",
        )
        .bind(user.to_string())
        .bind(unix(at))
        .bind(unix(until))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn revocations_since(&self, version: u64) -> Result<RevocationChanges, StoreError> {
        // One read transaction, so the version and the rows come from the same snapshot.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'revocations'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        let current = version_of(current.unwrap_or(0));
        let since = if version > current { 0 } else { version };
        let rows = sqlx::query_as::<_, RevocationRow>(
            "SELECT kind, key, at, until FROM revocations WHERE version > ?1 ORDER BY version",
        )
        .bind(i64::try_from(since).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(RevocationChanges {
            version: current,
            revocations: rows
                .into_iter()
                .map(revocation_from_row)
                .collect::<Result<_, _>>()?,
        })
    }

    async fn purge_revocations(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revocations WHERE until <= ?1")
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
