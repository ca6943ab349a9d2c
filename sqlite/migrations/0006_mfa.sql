-- Second factors. users.mfa marks a user who needs one: a login without
-- one (CreateSession) checks it in its transaction, and confirming a TOTP
-- sets it in its own, so that no login without a second factor commits
-- after a confirmation does.
ALTER TABLE users ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1));

-- A user's TOTP: pending (confirmed = 0) from its enrolment until a code
-- confirms it. sealed is the secret encrypted under LATCHKEY_MFA_KEY;
-- last_step the last time step accepted, never accepted twice.
CREATE TABLE totp (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed     BLOB    NOT NULL,
    confirmed  INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
    last_step  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- The SHA-256 digests of unused recovery codes; a use deletes its row.
CREATE TABLE recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  BLOB    NOT NULL CHECK (length(digest) = 32),
    PRIMARY KEY (user_id, digest)
) STRICT, WITHOUT ROWID;

-- Logins whose password was right, waiting for their second factor, by
-- the digest of their mfa_token.
CREATE TABLE mfa_challenges (
    digest      BLOB    PRIMARY KEY CHECK (length(digest) = 32),
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash_digest BLOB    NOT NULL CHECK (length(hash_digest) = 32),
    device_name TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- The check value of LATCHKEY_MFA_KEY (an HMAC of a fixed label under
-- it), stored by the first server started with a key: a server started
-- with another key refuses to start.
CREATE TABLE mfa_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    check_value BLOB    NOT NULL
) STRICT;
