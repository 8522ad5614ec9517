-- The running totals are kept by the store, not by triggers (issue 23).
--
-- `ledger_totals_add` (0005) ran one or two upserts, in PL/pgSQL, for
-- every ledger row, and `key_spend_byok` was called for every generation.
-- The batch writer appends hundreds of settlements and generations per
-- transaction, nearly all for a few accounts and keys. Every insert into
-- the ledger and the generations goes through the store (`insert_entry`,
-- `record_generation` and the batch writer), and each adds what it
-- appended to the totals in the same transaction, summed per account and
-- kind and per key and UTC day, in key order, so concurrent writers take
-- the totals' row locks in one order (`src/totals.rs`). The totals stay
-- exactly the ledger's sums; a row inserted by hand, outside the store, is
-- not counted in them. (sqlite/ drops its triggers in the same migration.)
DROP TRIGGER ledger_totals_add ON ledger;
DROP FUNCTION ledger_totals_add();
DROP TRIGGER key_spend_byok ON generations;
DROP FUNCTION key_spend_byok();
