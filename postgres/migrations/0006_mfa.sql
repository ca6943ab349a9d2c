-- Second factors. users.mfa marks a user who needs one: a login without
-- one (CreateSession) requires it false in the UPDATE of the user row it
-- makes, and confirming a TOTP sets it, so that the login waits for the
-- confirmation's row lock and then sees its commit: no login without a
-- second factor commits after a confirmation does.
ALTER TABLE users ADD COLUMN mfa boolean NOT NULL DEFAULT false;

-- A user's TOTP: pending (not confirmed) from its enrolment until a code
-- confirms it. sealed is the secret encrypted under LATCHKEY_MFA_KEY;
-- last_step the last time step accepted, never accepted twice.
CREATE TABLE totp (
    user_id    bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed     bytea       NOT NULL,
    confirmed  boolean     NOT NULL,
    last_step  bigint      NOT NULL,
    created_at timestamptz NOT NULL
);

-- The SHA-256 digests of unused recovery codes; a use deletes its row.
CREATE TABLE recovery_codes (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  bytea  NOT NULL CHECK (length(digest) = 32),
    PRIMARY KEY (user_id, digest)
);

-- Logins whose password was right, waiting for their second factor, by
-- the digest of their mfa_token.
CREATE TABLE mfa_challenges (
    digest      bytea       PRIMARY KEY CHECK (length(digest) = 32),
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash_digest bytea       NOT NULL CHECK (length(hash_digest) = 32),
    device_name text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0
);
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- The check value of LATCHKEY_MFA_KEY (an HMAC of a fixed label under
-- it), stored by the first server started with a key: a server started
-- with another key refuses to start.
CREATE TABLE mfa_key (
    id          integer PRIMARY KEY CHECK (id = 1),
    check_value bytea   NOT NULL
);
