-- The services that may call POST /v1/introspect: each by its name and the
-- SHA-256 digest of its secret, never the secret itself.
CREATE TABLE service_clients (
    name       text        PRIMARY KEY,
    digest     bytea       NOT NULL CHECK (octet_length(digest) = 32),
    created_at timestamptz NOT NULL
);
