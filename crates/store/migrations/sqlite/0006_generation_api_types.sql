-- Generations of the Anthropic Messages and OpenAI Responses ingresses:
-- `api_type` may also be 'messages' or 'responses'. SQLite cannot alter a
-- CHECK constraint, so the table is rebuilt (same columns, same order),
-- with its indexes and the BYOK spend trigger of 0005.
CREATE TABLE generations_new (
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
    api_type                  TEXT NOT NULL
        CHECK (api_type IN ('completions', 'embeddings', 'messages', 'responses')),
    origin                    TEXT,
    app_title                 TEXT,
    external_user             TEXT,
    user_agent                TEXT,
    error                     TEXT
) STRICT;

INSERT INTO generations_new SELECT * FROM generations;
DROP TABLE generations;
ALTER TABLE generations_new RENAME TO generations;

CREATE INDEX generations_by_account ON generations (account_id, created_at);
CREATE INDEX generations_byok_by_key ON generations (api_key_hash, created_at) WHERE is_byok = 1;

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
