-- Key management and generations (PostgreSQL). (sqlite/ has the same schema
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
ALTER TABLE api_keys ADD COLUMN include_byok_in_limit BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN secret_hint TEXT;

-- One row per generation (a served or failed completion or embedding), for
-- GET /generation and GET /activity. Written once, after the response has
-- started; money in NUMERIC(28,12) like the ledger.
CREATE TABLE generations (
    id                        TEXT NOT NULL PRIMARY KEY,
    account_id                TEXT NOT NULL REFERENCES accounts (id),
    api_key_hash              TEXT NOT NULL REFERENCES api_keys (hash),
    model                     TEXT NOT NULL,
    provider                  TEXT NOT NULL,
    provider_name             TEXT NOT NULL,
    upstream_id               TEXT,
    created_at                TIMESTAMPTZ NOT NULL,
    streamed                  BOOLEAN NOT NULL,
    cancelled                 BOOLEAN NOT NULL,
    finish_reason             TEXT,
    native_finish_reason      TEXT,
    tokens_prompt             BIGINT NOT NULL CHECK (tokens_prompt >= 0),
    tokens_completion         BIGINT NOT NULL CHECK (tokens_completion >= 0),
    native_tokens_prompt      BIGINT CHECK (native_tokens_prompt >= 0),
    native_tokens_completion  BIGINT CHECK (native_tokens_completion >= 0),
    native_tokens_reasoning   BIGINT CHECK (native_tokens_reasoning >= 0),
    native_tokens_cached      BIGINT CHECK (native_tokens_cached >= 0),
    native_tokens_cache_write BIGINT CHECK (native_tokens_cache_write >= 0),
    total_cost                NUMERIC(28, 12) NOT NULL CHECK (total_cost >= 0),
    upstream_inference_cost   NUMERIC(28, 12) CHECK (upstream_inference_cost >= 0),
    is_byok                   BOOLEAN NOT NULL,
    latency_ms                BIGINT CHECK (latency_ms >= 0),
    generation_time_ms        BIGINT CHECK (generation_time_ms >= 0),
    attempts                  TEXT NOT NULL,
    transforms                TEXT,
    request_id                TEXT,
    api_type                  TEXT NOT NULL CHECK (api_type IN ('completions', 'embeddings')),
    origin                    TEXT,
    app_title                 TEXT,
    external_user             TEXT,
    user_agent                TEXT,
    error                     TEXT
);

CREATE INDEX generations_by_account ON generations (account_id, created_at);
CREATE INDEX generations_byok_by_key ON generations (api_key_hash, created_at) WHERE is_byok;
