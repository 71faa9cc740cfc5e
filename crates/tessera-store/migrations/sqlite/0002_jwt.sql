-- JWT mode: refresh families and their token hashes, signing keys, server secrets, and
-- access-token revocations. Same conventions as 0001: whole Unix seconds, UUID text ids.

-- One row per login in JWT mode. Revoked families stay (revoked_at set) until purged, so
-- their tokens are still recognised, and refused, when presented.
CREATE TABLE refresh_families (
    id           TEXT    PRIMARY KEY NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation   INTEGER NOT NULL CHECK (generation BETWEEN 0 AND 4294967295),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    rotated_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    user_agent   TEXT,
    ip           TEXT
) STRICT;

CREATE INDEX refresh_families_user_id ON refresh_families (user_id, created_at, id);
-- Purge deletes by either end; one index each lets SQLite answer the OR with two lookups.
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);
CREATE INDEX refresh_families_revoked_at ON refresh_families (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- SHA-256 of every refresh token a family ever issued, one per generation; the tokens
-- themselves are never stored. Kept with the family, so an old token is recognised as reuse.
CREATE TABLE refresh_tokens (
    hash       BLOB    PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL CHECK (generation BETWEEN 0 AND 4294967295),
    UNIQUE (family_id, generation)
) STRICT, WITHOUT ROWID;

-- The key ring. `material` is the private key (or HMAC key) in the key ring's encoding.
CREATE TABLE signing_keys (
    kid              TEXT    PRIMARY KEY NOT NULL,
    algorithm        TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('next', 'active', 'retiring', 'retired')),
    material         BLOB    NOT NULL,
    public_jwk       TEXT,
    created_at       INTEGER NOT NULL,
    state_changed_at INTEGER NOT NULL
) STRICT;

CREATE INDEX signing_keys_created_at ON signing_keys (created_at, kid);

-- Named secrets of the server itself (e.g. the refresh-token HMAC key), created once.
CREATE TABLE server_secrets (
    name     TEXT PRIMARY KEY NOT NULL,
    material BLOB NOT NULL
) STRICT;

-- Access-token revocations: denied keys (`jti:…`, `sid:…`) and per-user cutoffs (key = the
-- user id). `version` orders writes for nodes that copy the table: AUTOINCREMENT never reuses
-- a value, and a write replaces its row, so a changed entry always gets a higher version.
CREATE TABLE revocations (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL CHECK (kind IN ('deny', 'cutoff')),
    key     TEXT    NOT NULL,
    at      INTEGER,
    until   INTEGER NOT NULL,
    UNIQUE (kind, key),
    CHECK ((kind = 'cutoff') = (at IS NOT NULL))
) STRICT;

CREATE INDEX revocations_until ON revocations (until);
