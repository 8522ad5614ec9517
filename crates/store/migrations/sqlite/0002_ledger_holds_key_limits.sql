-- Credits (SQLite): the ledger, holds, and per-key credit limits.
--
-- Money is INTEGER picodollars (USD x 10^12): SQLite has no exact decimal
-- type, and SUM() over TEXT would go through REAL. The store converts to
-- and from rust_decimal::Decimal and refuses amounts with more than 12
-- decimal places. Never REAL. (postgres/ stores NUMERIC(28,12); keep the
-- two in step.)

-- A key's spending limit, and when it starts again (calendar periods in
-- UTC). `limit` is an SQL keyword, hence `credit_limit`.
ALTER TABLE api_keys ADD COLUMN credit_limit INTEGER CHECK (credit_limit >= 0);
ALTER TABLE api_keys ADD COLUMN limit_reset TEXT
    CHECK (limit_reset IN ('daily', 'weekly', 'monthly'));

-- Credit reserved for a request in flight. Closed exactly once: settled,
-- released, or expired (a settled hold may have been expired first).
CREATE TABLE holds (
    id             TEXT NOT NULL PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    api_key_hash   TEXT REFERENCES api_keys (hash),
    amount         INTEGER NOT NULL CHECK (amount >= 0),
    state          TEXT NOT NULL CHECK (state IN ('open', 'settled', 'released', 'expired')),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    closed_at      TEXT,
    settled_amount INTEGER CHECK (settled_amount >= 0),
    generation_id  TEXT,
    CHECK ((state = 'open') = (closed_at IS NULL)),
    CHECK ((state = 'settled') = (settled_amount IS NOT NULL))
) STRICT;

CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE state = 'open';
CREATE INDEX holds_open_by_key ON holds (api_key_hash) WHERE state = 'open';
CREATE INDEX holds_by_account ON holds (account_id, created_at);

-- Append-only money movements with signed amounts: an account's available
-- balance is SUM(amount). `id` orders the ledger.
CREATE TABLE ledger (
    id            INTEGER NOT NULL PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    api_key_hash  TEXT REFERENCES api_keys (hash),
    kind          TEXT NOT NULL
        CHECK (kind IN ('topup', 'hold', 'settle', 'release', 'refund', 'fee', 'adjust')),
    amount        INTEGER NOT NULL,
    hold_id       TEXT REFERENCES holds (id),
    generation_id TEXT,
    created_at    TEXT NOT NULL,
    note          TEXT,
    CHECK (CASE kind
        WHEN 'topup' THEN amount > 0
        WHEN 'refund' THEN amount > 0
        WHEN 'release' THEN amount >= 0
        WHEN 'hold' THEN amount <= 0
        WHEN 'settle' THEN amount <= 0
        WHEN 'fee' THEN amount <= 0
        ELSE amount <> 0
    END),
    CHECK (kind NOT IN ('hold', 'release', 'settle') OR hold_id IS NOT NULL)
) STRICT;

-- At most one entry of each kind per hold: a hold is reserved, returned and
-- charged at most once, whatever the application does.
CREATE UNIQUE INDEX ledger_once_per_hold ON ledger (hold_id, kind) WHERE hold_id IS NOT NULL;
CREATE INDEX ledger_by_account ON ledger (account_id, kind, amount);
CREATE INDEX ledger_key_spend ON ledger (api_key_hash, created_at)
    WHERE kind IN ('settle', 'fee');

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
