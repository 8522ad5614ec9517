-- Running totals (SQLite), so that reading a balance or a key's spending
-- costs the same on the millionth request as on the first.
--
-- The ledger stays the record: each total is kept by a trigger on the
-- insert that changes it, in the same transaction, so `ledger_totals` is
-- always exactly the ledger's sums and `key_spend` exactly its settle and
-- fee entries (and the generations' BYOK cost) per key and UTC day. The
-- ledger is append-only (0002), so inserts are the only changes to follow.
-- Amounts are split like `SUM_AMOUNT` does it, into whole microdollars and
-- the picodollars below them, so a total cannot overflow INTEGER before
-- nine trillion dollars.

CREATE TABLE ledger_totals (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind       TEXT NOT NULL,
    micros     INTEGER NOT NULL,
    picos      INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind)
) STRICT, WITHOUT ROWID;

INSERT INTO ledger_totals (account_id, kind, micros, picos)
    SELECT account_id, kind, SUM(amount / 1000000), SUM(amount % 1000000)
    FROM ledger GROUP BY account_id, kind;

CREATE TRIGGER ledger_totals_add AFTER INSERT ON ledger
BEGIN
    INSERT INTO ledger_totals (account_id, kind, micros, picos)
        VALUES (NEW.account_id, NEW.kind, NEW.amount / 1000000, NEW.amount % 1000000)
        ON CONFLICT (account_id, kind) DO UPDATE SET
            micros = micros + excluded.micros,
            picos = picos + excluded.picos;
END;

-- A key's spending per UTC day (`day` is 'YYYY-MM-DD'): what it was
-- charged (settle and fee entries, as positive amounts) and the upstream
-- cost of its BYOK generations. Limit periods start at UTC midnight, so a
-- period's spending is the sum of its days.
CREATE TABLE key_spend (
    api_key_hash TEXT NOT NULL,
    day          TEXT NOT NULL,
    micros       INTEGER NOT NULL DEFAULT 0,
    picos        INTEGER NOT NULL DEFAULT 0,
    byok_micros  INTEGER NOT NULL DEFAULT 0,
    byok_picos   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (api_key_hash, day)
) STRICT, WITHOUT ROWID;

INSERT INTO key_spend (api_key_hash, day, micros, picos)
    SELECT api_key_hash, substr(created_at, 1, 10), SUM(-amount / 1000000), SUM(-amount % 1000000)
    FROM ledger
    WHERE api_key_hash IS NOT NULL AND kind IN ('settle', 'fee')
    GROUP BY api_key_hash, substr(created_at, 1, 10);

INSERT INTO key_spend (api_key_hash, day, byok_micros, byok_picos)
    SELECT api_key_hash, substr(created_at, 1, 10),
        SUM(upstream_inference_cost / 1000000), SUM(upstream_inference_cost % 1000000)
    FROM generations
    WHERE is_byok = 1 AND upstream_inference_cost IS NOT NULL
    GROUP BY api_key_hash, substr(created_at, 1, 10)
    ON CONFLICT (api_key_hash, day) DO UPDATE SET
        byok_micros = byok_micros + excluded.byok_micros,
        byok_picos = byok_picos + excluded.byok_picos;

CREATE TRIGGER key_spend_charged AFTER INSERT ON ledger
    WHEN NEW.api_key_hash IS NOT NULL AND NEW.kind IN ('settle', 'fee')
BEGIN
    INSERT INTO key_spend (api_key_hash, day, micros, picos)
        VALUES (NEW.api_key_hash, substr(NEW.created_at, 1, 10),
            -NEW.amount / 1000000, -NEW.amount % 1000000)
        ON CONFLICT (api_key_hash, day) DO UPDATE SET
            micros = micros + excluded.micros,
            picos = picos + excluded.picos;
END;

CREATE TRIGGER key_spend_byok AFTER INSERT ON generations
    WHEN NEW.is_byok = 1 AND NEW.upstream_inference_cost IS NOT NULL
BEGIN
    INSERT INTO key_spend (api_key_hash, day, byok_micros, byok_picos)
        VALUES (NEW.api_key_hash, substr(NEW.created_at, 1, 10),
            NEW.upstream_inference_cost / 1000000, NEW.upstream_inference_cost % 1000000)
        ON CONFLICT (api_key_hash, day) DO UPDATE SET
            byok_micros = byok_micros + excluded.byok_micros,
            byok_picos = byok_picos + excluded.byok_picos;
END;

-- The ledger's sums are read from the totals now: its indexes for summing
-- go, and the account's ledger is listed in id order.
DROP INDEX ledger_key_spend;
DROP INDEX ledger_by_account;
CREATE INDEX ledger_by_account ON ledger (account_id, id);
