-- Running totals (PostgreSQL), so that reading a balance or a key's
-- spending costs the same on the millionth request as on the first.
--
-- The ledger stays the record: each total is kept by a trigger on the
-- insert that changes it, in the same transaction, so `ledger_totals` is
-- always exactly the ledger's sums and `key_spend` exactly its settle and
-- fee entries (and the generations' BYOK cost) per key and UTC day. The
-- ledger is append-only (0002), so inserts are the only changes to follow.
-- Money transactions lock the account row first, so the totals' row locks
-- add no new waits and no deadlocks. (sqlite/ keeps the same totals; keep
-- the two in step.)

CREATE TABLE ledger_totals (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind       TEXT NOT NULL,
    amount     NUMERIC NOT NULL,
    PRIMARY KEY (account_id, kind)
);

INSERT INTO ledger_totals (account_id, kind, amount)
    SELECT account_id, kind, SUM(amount) FROM ledger GROUP BY account_id, kind;

CREATE FUNCTION ledger_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_totals (account_id, kind, amount)
        VALUES (NEW.account_id, NEW.kind, NEW.amount)
        ON CONFLICT (account_id, kind) DO UPDATE
            SET amount = ledger_totals.amount + EXCLUDED.amount;
    IF NEW.api_key_hash IS NOT NULL AND NEW.kind IN ('settle', 'fee') THEN
        INSERT INTO key_spend (api_key_hash, day, spent)
            VALUES (NEW.api_key_hash, to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), -NEW.amount)
            ON CONFLICT (api_key_hash, day) DO UPDATE
                SET spent = key_spend.spent + EXCLUDED.spent;
    END IF;
    RETURN NULL;
END;
$$;

-- A key's spending per UTC day (`day` is 'YYYY-MM-DD'): what it was
-- charged (settle and fee entries, as positive amounts) and the upstream
-- cost of its BYOK generations. Limit periods start at UTC midnight, so a
-- period's spending is the sum of its days.
CREATE TABLE key_spend (
    api_key_hash TEXT NOT NULL,
    day          TEXT NOT NULL,
    spent        NUMERIC NOT NULL DEFAULT 0,
    byok_spent   NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (api_key_hash, day)
);

INSERT INTO key_spend (api_key_hash, day, spent)
    SELECT api_key_hash, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), -SUM(amount)
    FROM ledger
    WHERE api_key_hash IS NOT NULL AND kind IN ('settle', 'fee')
    GROUP BY 1, 2;

INSERT INTO key_spend (api_key_hash, day, byok_spent)
    SELECT api_key_hash, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), SUM(upstream_inference_cost)
    FROM generations
    WHERE is_byok AND upstream_inference_cost IS NOT NULL
    GROUP BY 1, 2
    ON CONFLICT (api_key_hash, day) DO UPDATE
        SET byok_spent = key_spend.byok_spent + EXCLUDED.byok_spent;

CREATE TRIGGER ledger_totals_add AFTER INSERT ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_totals_add();

CREATE FUNCTION key_spend_byok() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.is_byok AND NEW.upstream_inference_cost IS NOT NULL THEN
        INSERT INTO key_spend (api_key_hash, day, byok_spent)
            VALUES (NEW.api_key_hash, to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                NEW.upstream_inference_cost)
            ON CONFLICT (api_key_hash, day) DO UPDATE
                SET byok_spent = key_spend.byok_spent + EXCLUDED.byok_spent;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER key_spend_byok AFTER INSERT ON generations
    FOR EACH ROW EXECUTE FUNCTION key_spend_byok();

-- The ledger's sums are read from the totals now: its indexes for summing
-- go, and the account's ledger is listed in id order.
DROP INDEX ledger_key_spend;
DROP INDEX ledger_by_account;
CREATE INDEX ledger_by_account ON ledger (account_id, id);
