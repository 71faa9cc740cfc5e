-- Times are whole Unix seconds. Ids are hyphenated lower-case UUID text, so text order is
-- UUID order. A migration that has shipped is never edited: add a new file instead.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX users_created_at ON users (created_at, id);

CREATE TABLE sessions (
    id              TEXT    PRIMARY KEY NOT NULL,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the cookie secret; the secret itself is never stored.
    secret_hash     BLOB    NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    user_agent      TEXT,
    ip              TEXT
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id, created_at, id);
-- Purge deletes by either expiry; one index each lets SQLite answer the OR with two lookups.
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE throttle (
    key       TEXT    PRIMARY KEY NOT NULL,
    count     INTEGER NOT NULL,
    resets_at INTEGER NOT NULL
) STRICT;

CREATE INDEX throttle_resets_at ON throttle (resets_at);
