-- Two reads that run while the gateway serves requests walked every row
-- an account ever had, so they slowed down as its history grew (issue 23:
-- at 330,000 holds on one account, 115 ms and 145 ms on SQLite).
--
-- The balance (`balance_at`: the books reload it every 2 s, under the
-- writer's commit lock) subtracts the account's open holds past their
-- expiry. Through `holds_by_account` that read every hold of the account;
-- this index holds only open ones, a handful.
CREATE INDEX holds_open_by_account ON holds (account_id, expires_at) WHERE state = 'open';

-- The BYOK fee counts the account's successful BYOK generations of the
-- month on every BYOK request. Through `generations_by_account` that read
-- every generation of the month; this index holds only BYOK ones.
CREATE INDEX generations_byok_by_account ON generations (account_id, created_at) WHERE is_byok;
