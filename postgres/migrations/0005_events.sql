-- Security events: logins and their outcomes, logouts, password changes,
-- sessions deleted, users disabled or enabled. Appended, never updated,
-- pruned after LATCHKEY_EVENTS_RETENTION. The id serves as a page cursor.
-- user_id has no foreign key: an event of an unknown name has none.
CREATE TABLE events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    kind       text        NOT NULL,
    user_id    bigint,
    username   text        NOT NULL,
    detail     text        NOT NULL,
    ip         text        NOT NULL,
    user_agent text        NOT NULL,
    session_id text        NOT NULL
);
CREATE INDEX events_user ON events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_at ON events (at);
