-- Times are INTEGER unix microseconds, UTC. Tokens are never stored, only
-- their SHA-256 digests.

-- AUTOINCREMENT: an id is never reused, so a cache can never mistake a new
-- user for an old one.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL DEFAULT '',
    first_name    TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    last_login    INTEGER,
    date_joined   INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    digest       BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
) STRICT;

-- ListSessions, DeleteSession and the revocations of a user.
CREATE INDEX sessions_user_id_expires_at ON sessions (user_id, expires_at);
-- DeleteExpired.
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The change feed: one row per revoked session (session = 1, digest set)
-- or changed user record (session = 0). AUTOINCREMENT keeps seq growing
-- even when the newest rows are deleted.
CREATE TABLE changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    session INTEGER NOT NULL CHECK (session IN (0, 1)),
    digest  BLOB    CHECK ((session = 1) = (digest IS NOT NULL) AND (digest IS NULL OR length(digest) = 32)),
    at      INTEGER NOT NULL
) STRICT;

CREATE INDEX changes_at ON changes (at);

-- changes_pruned holds the highest seq that DeleteExpired removed: a reader
-- that has not read that far missed entries and must start over.
CREATE TABLE changes_pruned (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
) STRICT;

INSERT INTO changes_pruned (id, seq) VALUES (1, 0);
