-- Credits (PostgreSQL): the ledger, holds, and per-key credit limits.
--
-- Money is NUMERIC(28,12): exact, read and written as rust_decimal::Decimal,
-- which holds 28 significant digits (so no column holds a value the store
-- cannot read back). The store refuses amounts with more than 12 decimal
-- places rather than letting the column round them. Never REAL or DOUBLE.
-- (sqlite/ stores INTEGER picodollars; keep the two in step.)

-- A key's spending limit, and when it starts again (calendar periods in
-- UTC). `limit` is an SQL keyword, hence `credit_limit`.
ALTER TABLE api_keys ADD COLUMN credit_limit NUMERIC(28, 12) CHECK (credit_limit >= 0);
ALTER TABLE api_keys ADD COLUMN limit_reset TEXT
    CHECK (limit_reset IN ('daily', 'weekly', 'monthly'));

-- Credit reserved for a request in flight. Closed exactly once: settled,
-- released, or expired (a settled hold may have been expired first).
CREATE TABLE holds (
    id             TEXT NOT NULL PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    api_key_hash   TEXT REFERENCES api_keys (hash),
    amount         NUMERIC(28, 12) NOT NULL CHECK (amount >= 0),
    state          TEXT NOT NULL CHECK (state IN ('open', 'settled', 'released', 'expired')),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    closed_at      TIMESTAMPTZ,
    settled_amount NUMERIC(28, 12) CHECK (settled_amount >= 0),
    generation_id  TEXT,
    CHECK ((state = 'open') = (closed_at IS NULL)),
    CHECK ((state = 'settled') = (settled_amount IS NOT NULL))
);

CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE state = 'open';
CREATE INDEX holds_open_by_key ON holds (api_key_hash) WHERE state = 'open';
CREATE INDEX holds_by_account ON holds (account_id, created_at);

-- Append-only money movements with signed amounts: an account's available
-- balance is SUM(amount). `id` orders the ledger.
CREATE TABLE ledger (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    api_key_hash  TEXT REFERENCES api_keys (hash),
    kind          TEXT NOT NULL
        CHECK (kind IN ('topup', 'hold', 'settle', 'release', 'refund', 'fee', 'adjust')),
    amount        NUMERIC(28, 12) NOT NULL,
    hold_id       TEXT REFERENCES holds (id),
    generation_id TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
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
);

-- At most one entry of each kind per hold: a hold is reserved, returned and
-- charged at most once, whatever the application does.
CREATE UNIQUE INDEX ledger_once_per_hold ON ledger (hold_id, kind) WHERE hold_id IS NOT NULL;
CREATE INDEX ledger_by_account ON ledger (account_id, kind) INCLUDE (amount);
CREATE INDEX ledger_key_spend ON ledger (api_key_hash, created_at)
    WHERE kind IN ('settle', 'fee');

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
END;
$$;

CREATE TRIGGER ledger_no_update_or_delete BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
