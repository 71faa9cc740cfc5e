//! Every store of this crate against the conformance suite, plus what only SQLite has: a file
//! that outlives the process, migrations, and failure when the database goes away.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sqlx::{Column, Row};
use tempfile::TempDir;
use tessera_core::account::{Email, PasswordHash, User, UserRecord};
use tessera_core::clock::from_unix;
use tessera_core::id::{FamilyId, SessionId, UserId};
use tessera_core::refresh::RefreshFamily;
use tessera_core::secret::PlainSecret;
use tessera_core::session::{Device, SessionRecord};
use tessera_core::store::{
    KeyMaterial, KeyState, KeyStore, RefreshStore, RevocationStore, SessionStore, Store,
    StoreError, StoredKey, ThrottleStore, UserStore,
};
use tessera_store::conformance::Fixture;
use tessera_store::{MemoryStore, SqliteStore};
use time::Duration;

async fn memory_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

/// A store on a new database file in a temporary directory that lives as long as the case.
async fn sqlite_store() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("tessera.db"))
        .await
        .unwrap();
    Fixture::with_guard(Arc::new(store), dir)
}

/// The same, opened through the URL form the configuration uses.
async fn sqlite_store_by_url() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("by-url.db").display());
    (tessera_store::connect(&url).await.unwrap(), dir)
}

tessera_store::conformance_tests!(memory, memory_store);
tessera_store::conformance_tests!(sqlite, sqlite_store);
tessera_store::conformance_tests!(sqlite_url, sqlite_store_by_url);

// ---- SQLite only ----

fn user(created: i64) -> UserRecord {
    UserRecord {
        user: User {
            id: UserId::new(),
            email: Email::parse(&format!("{}@example.test", uuid::Uuid::new_v4().simple()))
                .unwrap(),
            created_at: from_unix(created),
        },
        password_hash: PasswordHash::from_stored(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        ),
    }
}

fn session(user: UserId, created: i64) -> (PlainSecret, SessionRecord) {
    let secret = PlainSecret::generate().unwrap();
    let record = SessionRecord {
        id: SessionId::new(),
        user_id: user,
        secret_hash: secret.hash(),
        created_at: from_unix(created),
        last_seen_at: from_unix(created),
        expires_at: from_unix(created) + Duration::hours(12),
        idle_expires_at: from_unix(created) + Duration::minutes(30),
        device: Device::new(Some("curl/8.5"), Some("192.0.2.1".into())),
    };
    (secret, record)
}

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.db");
    let u = user(1_700_000_000);
    let (_, s) = session(u.user.id, 1_700_000_100);
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.create_user(&u).await.unwrap();
        store.insert_session(&s).await.unwrap();
        store
            .throttle_hit("k", Duration::hours(1), from_unix(1_700_000_000))
            .await
            .unwrap();
        store.close().await;
    }
    // Reopening runs the migrations again: already applied, they must change nothing.
    for _ in 0..2 {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.user_by_id(u.user.id).await.unwrap(), Some(u.clone()));
        assert_eq!(
            store.session_by_hash(&s.secret_hash).await.unwrap(),
            Some(s.clone())
        );
        let w = store
            .throttle_peek("k", from_unix(1_700_000_001))
            .await
            .unwrap();
        assert_eq!(w.map(|w| w.count), Some(1));
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(applied, 2);
        store.close().await;
    }
}

#[tokio::test]
async fn the_file_uses_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);

    // Deleting a user deletes its sessions.
    let u = user(0);
    let (_, s) = session(u.user.id, 0);
    store.create_user(&u).await.unwrap();
    store.insert_session(&s).await.unwrap();
    sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(u.user.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.session_by_hash(&s.secret_hash).await.unwrap(), None);
}

#[tokio::test]
async fn sessions_table_holds_only_32_byte_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    let u = user(0);
    store.create_user(&u).await.unwrap();
    let mut secrets = Vec::new();
    for i in 0..5 {
        let (secret, s) = session(u.user.id, i);
        store.insert_session(&s).await.unwrap();
        secrets.push(secret);
    }
    let rows = sqlx::query("SELECT * FROM sessions")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let hash: Vec<u8> = row.get("secret_hash");
        assert_eq!(hash.len(), 32);
        assert!(secrets.iter().any(|s| s.hash().as_bytes()[..] == hash[..]));
        // No column holds any secret, as text or as bytes.
        for i in 0..row.len() {
            let text: Option<String> = row.try_get(i).ok().flatten();
            let bytes: Option<Vec<u8>> = row.try_get(i).ok().flatten();
            for secret in &secrets {
                let plain = secret.expose();
                assert!(!text.as_deref().unwrap_or("").contains(plain));
                assert!(
                    !bytes
                        .as_deref()
                        .unwrap_or(&[])
                        .windows(plain.len())
                        .any(|w| w == plain.as_bytes())
                );
            }
        }
    }
}

#[tokio::test]
async fn a_closed_pool_is_unavailable_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    let u = user(0);
    store.create_user(&u).await.unwrap();
    store.pool().close().await;

    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.user_by_id(u.user.id).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.create_user(&user(1)).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store
            .throttle_hit("k", Duration::minutes(1), from_unix(0))
            .await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no").join("such").join("dir").join("t.db");
    let err = SqliteStore::open(&missing_dir).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");

    let not_a_db = dir.path().join("junk.db");
    std::fs::write(&not_a_db, vec![0x5a; 8192]).unwrap();
    let err = SqliteStore::open(&not_a_db).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn rows_that_do_not_decode_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ('not-a-uuid', 'x@example.test', 'h', 0)")
        .execute(store.pool())
        .await
        .unwrap();
    let email = Email::parse("x@example.test").unwrap();
    let err = store.user_by_email(&email).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(matches!(
        store.list_users().await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn urls_are_accepted_in_both_forms_and_create_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (i, form) in ["sqlite://", "sqlite:"].into_iter().enumerate() {
        let path = dir.path().join(format!("db{i}.sqlite"));
        let url = format!("{form}{}?mode=rwc", path.display());
        let store = tessera_store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.ping().await.unwrap();
        assert!(path.exists());
    }
    let store = tessera_store::connect("sqlite::memory:").await.unwrap();
    store.create_user(&user(0)).await.unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn other_schemes_are_refused_clearly() {
    let err = tessera_store::connect("postgres://x").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("postgres") && msg.contains("sqlite://"),
        "{msg}"
    );
}

// ---- JWT mode tables (SQLite only) ----

fn family(user: UserId, created: i64) -> RefreshFamily {
    RefreshFamily {
        id: FamilyId::new(),
        user_id: user,
        generation: 0,
        created_at: from_unix(created),
        last_used_at: from_unix(created),
        rotated_at: from_unix(created),
        expires_at: from_unix(created) + Duration::days(30),
        revoked_at: None,
        device: Device::new(Some("curl/8.5"), Some("192.0.2.1".into())),
    }
}

fn signing_key(kid: &str, material: &[u8]) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        state: KeyState::Active,
        material: KeyMaterial::from_vec(material.to_vec()),
        public_jwk: Some(format!(r#"{{"kty":"OKP","kid":"{kid}"}}"#)),
        created_at: from_unix(0),
        state_changed_at: from_unix(0),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Refresh tokens are stored only as 32-byte hashes; private key bytes only in
/// `signing_keys.material`, server secrets only in `server_secrets.material`.
#[tokio::test]
async fn jwt_tables_hold_only_hashes_and_keys_only_where_they_belong() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    let u = user(0);
    store.create_user(&u).await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..3 {
        let f = family(u.user.id, i);
        let t0 = PlainSecret::generate().unwrap();
        store.create_family(&f, &t0.hash()).await.unwrap();
        tokens.push(t0);
        for g in 0..3u32 {
            let next = PlainSecret::generate().unwrap();
            let now = from_unix(i + 10);
            assert!(
                store
                    .rotate_family(f.id, g, &next.hash(), now, now + Duration::days(30))
                    .await
                    .unwrap()
            );
            tokens.push(next);
        }
    }
    let private = b"-----PRIVATE KEY BYTES 0123456789abcdef-----";
    store.insert_key(&signing_key("k1", private)).await.unwrap();
    let secret = b"server secret bytes 0123456789abcdef";
    store
        .server_secret("refresh", &KeyMaterial::from_vec(secret.to_vec()))
        .await
        .unwrap();
    store.deny("sid:x", from_unix(100)).await.unwrap();
    store
        .set_cutoff(u.user.id, from_unix(1), from_unix(100))
        .await
        .unwrap();

    let hashes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE length(hash) = 32")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(hashes, tokens.len() as i64);

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for needed in [
        "refresh_families",
        "refresh_tokens",
        "signing_keys",
        "server_secrets",
        "revocations",
    ] {
        assert!(
            tables.iter().any(|t| t == needed),
            "{needed} missing from {tables:?}"
        );
    }
    for table in &tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
            .fetch_all(store.pool())
            .await
            .unwrap();
        for row in &rows {
            for i in 0..row.len() {
                let column = row.columns()[i].name().to_owned();
                let text: Option<String> = row.try_get(i).ok().flatten();
                let bytes: Option<Vec<u8>> = row.try_get(i).ok().flatten();
                let raw = bytes.unwrap_or_else(|| text.unwrap_or_default().into_bytes());
                for t in &tokens {
                    assert!(
                        !contains(&raw, t.expose().as_bytes()),
                        "a refresh token in {table}.{column}"
                    );
                }
                let where_ = (table.as_str(), column.as_str());
                assert_eq!(
                    contains(&raw, private),
                    where_ == ("signing_keys", "material"),
                    "private key bytes in {table}.{column}"
                );
                assert_eq!(
                    contains(&raw, secret),
                    where_ == ("server_secrets", "material"),
                    "server secret bytes in {table}.{column}"
                );
            }
        }
    }
}

/// JWT-mode state survives reopening the file, and revocation versions keep growing.
#[tokio::test]
async fn jwt_state_survives_reopening_and_versions_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.db");
    let u = user(0);
    let f = family(u.user.id, 0);
    let t0 = PlainSecret::generate().unwrap();
    let key = signing_key("k1", b"bytes");
    let version = {
        let store = SqliteStore::open(&path).await.unwrap();
        store.create_user(&u).await.unwrap();
        store.create_family(&f, &t0.hash()).await.unwrap();
        store.insert_key(&key).await.unwrap();
        store.deny("jti:a", from_unix(10)).await.unwrap();
        store.deny("jti:b", from_unix(10)).await.unwrap();
        // Purging the newest entry must not let its version be given again.
        store.purge_revocations(from_unix(10)).await.unwrap();
        let v = store.revocations_since(0).await.unwrap().version;
        store.close().await;
        v
    };
    let store = SqliteStore::open(&path).await.unwrap();
    let found = store.find_refresh_token(&t0.hash()).await.unwrap().unwrap();
    assert_eq!((found.family, found.generation), (f, 0));
    assert_eq!(store.keys().await.unwrap(), vec![key]);
    assert_eq!(store.revocations_since(0).await.unwrap().version, version);
    store.deny("jti:c", from_unix(20)).await.unwrap();
    let c = store.revocations_since(version).await.unwrap();
    assert!(c.version > version);
    assert_eq!(c.revocations.len(), 1);
}

/// Deleting a user deletes its refresh families and their token hashes.
#[tokio::test]
async fn deleting_a_user_deletes_its_families_and_token_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    let u = user(0);
    store.create_user(&u).await.unwrap();
    let f = family(u.user.id, 0);
    let t0 = PlainSecret::generate().unwrap();
    store.create_family(&f, &t0.hash()).await.unwrap();
    sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(u.user.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.family(f.id).await.unwrap(), None);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn jwt_operations_on_a_closed_pool_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    store.pool().close().await;
    let t = from_unix(0);
    assert!(matches!(
        store
            .rotate_family(
                FamilyId::new(),
                0,
                &PlainSecret::generate().unwrap().hash(),
                t,
                t
            )
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store
            .create_family(
                &family(UserId::new(), 0),
                &PlainSecret::generate().unwrap().hash()
            )
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.keys().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store
            .server_secret("x", &KeyMaterial::from_vec(vec![1]))
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.revocations_since(0).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.deny("jti:x", t).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn jwt_rows_that_do_not_decode_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    sqlx::query(
        "INSERT INTO revocations (kind, key, at, until) VALUES ('cutoff', 'not-a-uuid', 1, 2)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    assert!(matches!(
        store.revocations_since(0).await,
        Err(StoreError::Corrupt(_))
    ));

    // The schema refuses what would not decode in the first place.
    for bad in [
        "INSERT INTO signing_keys VALUES ('k', 'EdDSA', 'Active', x'00', NULL, 0, 0)",
        "INSERT INTO refresh_tokens VALUES (x'0011', 'f', 0)",
        "INSERT INTO revocations (kind, key, at, until) VALUES ('deny', 'k', 5, 6)",
        "INSERT INTO revocations (kind, key, at, until) VALUES ('cutoff', 'k', NULL, 6)",
    ] {
        assert!(
            sqlx::query(bad).execute(store.pool()).await.is_err(),
            "{bad}"
        );
    }
}
