-- Security events: logins and their outcomes, logouts, password changes,
-- sessions deleted, users disabled or enabled. Appended, never updated,
-- pruned after LATCHKEY_EVENTS_RETENTION. AUTOINCREMENT: an id is never
-- reused after a prune, so that it serves as a page cursor. user_id has
-- no foreign key: an event of an unknown name has none, and the insert
-- stays one index write per index.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    user_id    INTEGER,
    username   TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    user_agent TEXT    NOT NULL,
    session_id TEXT    NOT NULL
) STRICT;
CREATE INDEX events_user ON events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_at ON events (at);
