-- Passkeys: the WebAuthn credentials of users, by their credential id.
-- sign_count is the signature counter of the last accepted assertion,
-- moved only forward by a conditional UPDATE; last_used_at is NULL until
-- the first login with the passkey.
CREATE TABLE passkeys (
    credential_id    bytea       PRIMARY KEY CHECK (length(credential_id) BETWEEN 1 AND 1023),
    user_id          bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key       bytea       NOT NULL,
    sign_count       bigint      NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports       text[]      NOT NULL,
    aaguid           bytea       NOT NULL,
    attestation_type text        NOT NULL,
    backup_eligible  boolean     NOT NULL,
    backup_state     boolean     NOT NULL,
    name             text        NOT NULL,
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
