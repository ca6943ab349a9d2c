-- The processes that cache from this database, each until its record
-- expires: a revocation waits for them before it answers.
CREATE TABLE readers (
    id         text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
