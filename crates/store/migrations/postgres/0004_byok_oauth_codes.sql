-- BYOK provider keys and OAuth PKCE codes (PostgreSQL). Keep sqlite/ in step.

-- A user's own key for one provider, never stored in clear: the gateway
-- encrypts it with AES-256-GCM (tollgate_store::ByokCipher) under a key
-- derived from TOLLGATE_SECRET_KEY, with (account_id, provider) as
-- associated data, so a ciphertext copied to another row does not decrypt.
-- `key_id` is a fingerprint of the encryption key (not the key), telling a
-- changed secret apart from tampering; `last4` is all a listing shows.
CREATE TABLE byok_keys (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    provider   TEXT NOT NULL CHECK (length(provider) > 0),
    nonce      BYTEA NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext BYTEA NOT NULL CHECK (octet_length(ciphertext) > 16),
    key_id     TEXT NOT NULL,
    last4      TEXT NOT NULL CHECK (length(last4) <= 4),
    always_use BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (account_id, provider)
);

-- OAuth PKCE authorization codes. Only the SHA-256 hex hash of a code is
-- stored. A code is exchanged at most once, before `expires_at`: the
-- exchange creates the key and sets `used_at` and `api_key_hash` together
-- in one transaction, with `WHERE used_at IS NULL`. `key_label`,
-- `credit_limit` (NUMERIC(28,12), as in api_keys), `limit_reset` and
-- `key_expires_at` are the settings of the key the exchange creates.
CREATE TABLE oauth_codes (
    hash                  TEXT NOT NULL PRIMARY KEY CHECK (length(hash) = 64),
    account_id            TEXT NOT NULL REFERENCES accounts (id),
    callback_url          TEXT,
    code_challenge        TEXT CHECK (length(code_challenge) BETWEEN 1 AND 256),
    code_challenge_method TEXT CHECK (code_challenge_method IN ('S256', 'plain')),
    key_label             TEXT NOT NULL,
    credit_limit          NUMERIC(28, 12) CHECK (credit_limit >= 0),
    limit_reset           TEXT CHECK (limit_reset IN ('daily', 'weekly', 'monthly')),
    key_expires_at        TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL,
    used_at               TIMESTAMPTZ,
    api_key_hash          TEXT REFERENCES api_keys (hash),
    CHECK ((code_challenge IS NULL) = (code_challenge_method IS NULL)),
    CHECK ((used_at IS NULL) = (api_key_hash IS NULL))
);

CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);
