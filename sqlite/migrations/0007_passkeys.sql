-- Passkeys: the WebAuthn credentials of users, by their credential id.
-- sign_count is the signature counter of the last accepted assertion,
-- moved only forward by a conditional UPDATE; transports is the
-- browser's list, comma-separated; last_used_at is NULL until the first
-- login with the passkey.
CREATE TABLE passkeys (
    credential_id    BLOB    PRIMARY KEY CHECK (length(credential_id) BETWEEN 1 AND 1023),
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key       BLOB    NOT NULL,
    sign_count       INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports       TEXT    NOT NULL,
    aaguid           BLOB    NOT NULL,
    attestation_type TEXT    NOT NULL,
    backup_eligible  INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    backup_state     INTEGER NOT NULL CHECK (backup_state IN (0, 1)),
    name             TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER
) STRICT;
CREATE INDEX passkeys_user_id ON passkeys (user_id);
