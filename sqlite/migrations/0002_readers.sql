-- The processes that cache from this database, each until its record
-- expires (unix microseconds): a revocation waits for them before it
-- answers.
CREATE TABLE readers (
    id         TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
