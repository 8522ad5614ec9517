-- The running totals are kept by the store, not by triggers (issue 23).
--
-- `ledger_totals_add` and `key_spend_charged` (0005) ran two upserts for
-- every ledger row, and `key_spend_byok` one for every BYOK generation.
-- The batch writer appends hundreds of settlements and generations per
-- transaction, nearly all for a few accounts and keys: those per-row
-- upserts were about a fifth of SQLite's work per request, and a table
-- with a trigger has each multi-row INSERT copied into a scratch table
-- first, even when the trigger's WHEN never holds. Every insert into the
-- ledger and the generations goes through the store (`insert_entry`,
-- `record_generation` and the batch writer), and each adds what it
-- appended to the totals in the same transaction, summed per account and
-- kind and per key and UTC day (`src/totals.rs`). The totals stay exactly
-- the ledger's sums; a row inserted by hand, outside the store, is not
-- counted in them.
DROP TRIGGER ledger_totals_add;
DROP TRIGGER key_spend_charged;
DROP TRIGGER key_spend_byok;
