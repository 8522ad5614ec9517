-- Accounts and their API keys (SQLite).
--
-- Conventions every later table follows (keep postgres/ in step):
--   * ids are opaque TEXT with a type prefix ("acct_" + uuid simple);
--   * timestamps are TEXT, RFC 3339 in UTC with exactly six fractional digits
--     ("2025-01-02T03:04:05.000006Z"), written by the store, so text order is
--     time order and values round-trip exactly like TIMESTAMPTZ on PostgreSQL;
--   * booleans are INTEGER 0/1;
--   * tables are STRICT so a wrong type is an error, not a silent coercion.

CREATE TABLE accounts (
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

-- Only the SHA-256 hex hash of a key's secret is stored, never the secret.
CREATE TABLE api_keys (
    hash       TEXT NOT NULL PRIMARY KEY CHECK (length(hash) = 64),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('inference', 'provisioning')),
    disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT
) STRICT;

CREATE INDEX api_keys_account_id ON api_keys (account_id, created_at);
