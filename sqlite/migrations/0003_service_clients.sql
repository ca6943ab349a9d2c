-- The services that may call POST /v1/introspect: each by its name and the
-- SHA-256 digest of its secret, never the secret itself.
CREATE TABLE service_clients (
    name       TEXT    PRIMARY KEY,
    digest     BLOB    NOT NULL CHECK (length(digest) = 32),
    created_at INTEGER NOT NULL
) STRICT;
