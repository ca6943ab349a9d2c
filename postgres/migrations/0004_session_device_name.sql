-- The name a client gave its login ("Alice's laptop"), shown in the
-- session list; '' when it gave none, as sessions before this migration
-- and imported ones have.
ALTER TABLE sessions ADD COLUMN device_name text NOT NULL DEFAULT '';
