-- Accounts and their API keys (PostgreSQL).
--
-- Conventions every later table follows (keep sqlite/ in step):
--   * ids are opaque TEXT with a type prefix ("acct_" + uuid simple);
--   * timestamps are TIMESTAMPTZ (microsecond precision; the store truncates
--     to microseconds before writing so both backends return equal values);
--   * booleans are BOOLEAN.

CREATE TABLE accounts (
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Only the SHA-256 hex hash of a key's secret is stored, never the secret.
CREATE TABLE api_keys (
    hash       TEXT NOT NULL PRIMARY KEY CHECK (length(hash) = 64),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('inference', 'provisioning')),
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ
);

CREATE INDEX api_keys_account_id ON api_keys (account_id, created_at);
