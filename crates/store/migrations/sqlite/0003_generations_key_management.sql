-- Key management and generations (SQLite). (postgres/ has the same schema
-- in its own types; keep the two in step.)

-- Key settings managed through /api/v1/keys.
--   * include_byok_in_limit: BYOK usage (what the user's own provider key
--     was charged, recorded on the generation) counts against the limit;
--   * expires_at: the key stops authenticating at this instant;
--   * deleted_at: a deleted key is kept (ledger, holds and generations
--     reference its hash, and the ledger is append-only) but is no longer
--     found, listed or authenticated; its hash is never reused;
--   * secret_hint: a masked preview of the secret for listings
--     ("sk-tg-v1-abc...xyz": three characters each side, 24 of 256 bits),
--     NULL for keys created before this migration.
ALTER TABLE api_keys ADD COLUMN include_byok_in_limit INTEGER NOT NULL DEFAULT 0
    CHECK (include_byok_in_limit IN (0, 1));
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN deleted_at TEXT;
ALTER TABLE api_keys ADD COLUMN secret_hint TEXT;

-- One row per generation (a served or failed completion or embedding), for
-- GET /generation and GET /activity. Written once, after the response has
-- started; money in INTEGER picodollars like the ledger.
CREATE TABLE generations (
    id                        TEXT NOT NULL PRIMARY KEY,
    account_id                TEXT NOT NULL REFERENCES accounts (id),
    api_key_hash              TEXT NOT NULL REFERENCES api_keys (hash),
    model                     TEXT NOT NULL,
    provider                  TEXT NOT NULL,
    provider_name             TEXT NOT NULL,
    upstream_id               TEXT,
    created_at                TEXT NOT NULL,
    streamed                  INTEGER NOT NULL CHECK (streamed IN (0, 1)),
    cancelled                 INTEGER NOT NULL CHECK (cancelled IN (0, 1)),
    finish_reason             TEXT,
    native_finish_reason      TEXT,
    tokens_prompt             INTEGER NOT NULL CHECK (tokens_prompt >= 0),
    tokens_completion         INTEGER NOT NULL CHECK (tokens_completion >= 0),
    native_tokens_prompt      INTEGER CHECK (native_tokens_prompt >= 0),
    native_tokens_completion  INTEGER CHECK (native_tokens_completion >= 0),
    native_tokens_reasoning   INTEGER CHECK (native_tokens_reasoning >= 0),
    native_tokens_cached      INTEGER CHECK (native_tokens_cached >= 0),
    native_tokens_cache_write INTEGER CHECK (native_tokens_cache_write >= 0),
    total_cost                INTEGER NOT NULL CHECK (total_cost >= 0),
    upstream_inference_cost   INTEGER CHECK (upstream_inference_cost >= 0),
    is_byok                   INTEGER NOT NULL CHECK (is_byok IN (0, 1)),
    latency_ms                INTEGER CHECK (latency_ms >= 0),
    generation_time_ms        INTEGER CHECK (generation_time_ms >= 0),
    attempts                  TEXT NOT NULL,
    transforms                TEXT,
    request_id                TEXT,
    api_type                  TEXT NOT NULL CHECK (api_type IN ('completions', 'embeddings')),
    origin                    TEXT,
    app_title                 TEXT,
    external_user             TEXT,
    user_agent                TEXT,
    error                     TEXT
) STRICT;

CREATE INDEX generations_by_account ON generations (account_id, created_at);
CREATE INDEX generations_byok_by_key ON generations (api_key_hash, created_at) WHERE is_byok = 1;
