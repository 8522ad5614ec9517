//! Encryption at rest of users' own provider keys (BYOK): [`ByokCipher`].
//!
//! Pure code, no I/O: the gateway builds one cipher at start-up from the
//! operator's secret (`TOLLGATE_SECRET_KEY`), encrypts a key before handing
//! it to [`Store::put_byok_key`](crate::Store::put_byok_key) and decrypts
//! what [`Store::byok_key`](crate::Store::byok_key) returns. The store only
//! ever sees [`SealedSecret`]s.
//!
//! # Choices
//!
//! - **AEAD**: AES-256-GCM (`aes-gcm`), a fresh random 96-bit nonce per
//!   value from the operating system's RNG. Keys are re-encrypted whenever
//!   they are stored, so a nonce is never reused under realistic volumes
//!   (random 96-bit nonces are safe well past 2^32 encryptions per key).
//! - **Associated data**: a version tag, the account id and the provider
//!   slug, each length-prefixed, so a ciphertext copied to another account's
//!   or another provider's row fails to decrypt instead of lending a key.
//! - **Key derivation**: the secret is read as 32 bytes when it is exactly
//!   64 hex digits or base64 (standard or url-safe, padded or not) of 32
//!   bytes; otherwise as a passphrase of at least 32 bytes of UTF-8. Either
//!   way the input keying material goes through HKDF-SHA256 (RFC 5869) with
//!   the salt [`HKDF_SALT`] and the info [`HKDF_INFO_KEY`], giving the
//!   AES-256 key: a purpose-bound subkey, so the same operator secret can
//!   later derive other keys without reuse. HKDF is fast, not a password
//!   hash: a passphrase must carry its own entropy (generate the secret with
//!   `openssl rand -base64 32`).
//! - **Key id**: 8 more bytes from the same HKDF (info [`HKDF_INFO_KEY_ID`]),
//!   in hex, stored beside each ciphertext. It reveals nothing of the key,
//!   and tells "encrypted under another secret" (the operator changed
//!   `TOLLGATE_SECRET_KEY`) apart from "tampered with".
//! - **Secrets in memory**: [`ProviderKey`] and [`ByokCipher`] never print
//!   their contents through `Debug`; there is deliberately no `Display`.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

/// The salt of the HKDF-SHA256 derivation (fixed: a domain separator).
pub(crate) const HKDF_SALT: &[u8] = b"tollgate secret key v1";
/// The HKDF info of the AES-256-GCM key that encrypts BYOK keys.
pub(crate) const HKDF_INFO_KEY: &[u8] = b"tollgate byok aes-256-gcm v1";
/// The HKDF info of the key id stored beside each ciphertext.
pub(crate) const HKDF_INFO_KEY_ID: &[u8] = b"tollgate byok key id v1";

/// Bytes of a nonce (96 bits, GCM's native size).
pub(crate) const NONCE_LEN: usize = 12;
/// The shortest passphrase accepted as a secret key, in bytes.
pub(crate) const MIN_PASSPHRASE_LEN: usize = 32;

/// The version tag that starts the associated data.
const AAD_TAG: &[u8] = b"tollgate-byok-v1";

/// Why an operator's secret cannot be used as a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretKeyError {
    /// The secret is empty (or only whitespace).
    #[error("is empty")]
    Empty,
    /// The secret is neither 32 encoded bytes nor a long enough passphrase.
    #[error(
        "is too short: expected 32 bytes as 64 hex digits or base64, or a passphrase of at least 32 characters"
    )]
    TooShort,
}

/// Why a value cannot be encrypted or decrypted. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The value was encrypted under another secret key than this cipher's.
    #[error("encrypted under another secret key (key id `{stored}`, this server has `{current}`)")]
    KeyMismatch {
        /// The key id stored with the value.
        stored: String,
        /// This cipher's key id.
        current: String,
    },
    /// Authentication failed: the ciphertext, nonce or associated data
    /// (account, provider) is not what was encrypted.
    #[error("decryption failed: the value was altered or belongs to another account or provider")]
    Decrypt,
    /// Encryption failed (a value too large for GCM).
    #[error("encryption failed")]
    Encrypt,
    /// The operating system's random number generator failed.
    #[error("operating system random number generator failed: {0}")]
    Rng(String),
}

/// A user's provider key in clear, as decrypted. `Debug` shows nothing of
/// it and there is no `Display`: use [`ProviderKey::expose`] where the key
/// is really needed (the upstream request).
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderKey(String);

impl ProviderKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> ProviderKey {
        ProviderKey(key.into())
    }

    /// The key itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key itself, by value.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProviderKey(<redacted>)")
    }
}

/// An encrypted value as stored: the nonce, the ciphertext with its tag, and
/// the id of the key that encrypted it. `Debug` shows sizes only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The random nonce of this encryption.
    pub nonce: [u8; NONCE_LEN],
    /// AES-256-GCM ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
    /// [`ByokCipher::key_id`] of the cipher that encrypted it.
    pub key_id: String,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// AES-256-GCM under a key derived from the operator's secret; see the
/// module docs for every choice. Cheap to clone. `Debug` shows the key id
/// only.
#[derive(Clone)]
pub struct ByokCipher {
    aead: Aes256Gcm,
    key_id: String,
}

impl fmt::Debug for ByokCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByokCipher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ByokCipher {
    /// A cipher from the operator's secret (the value of
    /// `TOLLGATE_SECRET_KEY`; surrounding whitespace is ignored): 64 hex
    /// digits or base64 of exactly 32 bytes, or a passphrase of at least
    /// 32 bytes. The error never contains the secret.
    pub fn from_secret(secret: &str) -> Result<ByokCipher, SecretKeyError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(SecretKeyError::Empty);
        }
        match decode_key_bytes(secret) {
            Some(bytes) => Ok(ByokCipher::from_ikm(&bytes)),
            None if secret.len() >= MIN_PASSPHRASE_LEN => {
                Ok(ByokCipher::from_ikm(secret.as_bytes()))
            }
            None => Err(SecretKeyError::TooShort),
        }
    }

    /// Derives the key and key id from input keying material.
    fn from_ikm(ikm: &[u8]) -> ByokCipher {
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm);
        let mut key = [0u8; 32];
        let mut id = [0u8; 8];
        // HKDF-SHA256 can expand up to 255 × 32 bytes; 32 and 8 always fit,
        // so these cannot fail.
        let _ = hkdf.expand(HKDF_INFO_KEY, &mut key);
        let _ = hkdf.expand(HKDF_INFO_KEY_ID, &mut id);
        let aead = Aes256Gcm::new(&key.into());
        ByokCipher {
            aead,
            key_id: hex::encode(id),
        }
    }

    /// The id of this cipher's key (16 hex digits): stored with each value
    /// it encrypts; equal for equal secrets, and revealing nothing of them.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `plaintext` for `account_id`'s key to `provider`, with a
    /// fresh random nonce.
    pub fn encrypt(
        &self,
        account_id: &str,
        provider: &str,
        plaintext: &str,
    ) -> Result<SealedSecret, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| CryptoError::Rng(e.to_string()))?;
        let aad = associated_data(account_id, provider);
        let ciphertext = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        Ok(SealedSecret {
            nonce,
            ciphertext,
            key_id: self.key_id.clone(),
        })
    }

    /// Decrypts what [`ByokCipher::encrypt`] made for the same account and
    /// provider. Fails with [`CryptoError::KeyMismatch`] for a value of
    /// another secret key, and [`CryptoError::Decrypt`] for any alteration
    /// or another account or provider.
    pub fn decrypt(
        &self,
        account_id: &str,
        provider: &str,
        sealed: &SealedSecret,
    ) -> Result<ProviderKey, CryptoError> {
        if sealed.key_id != self.key_id {
            return Err(CryptoError::KeyMismatch {
                stored: sealed.key_id.clone(),
                current: self.key_id.clone(),
            });
        }
        let aad = associated_data(account_id, provider);
        let plaintext = self
            .aead
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        // Only `encrypt` (which takes a `&str`) makes values that
        // authenticate, so this holds UTF-8.
        String::from_utf8(plaintext)
            .map(ProviderKey)
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// 32 key bytes, if `secret` is 64 hex digits or base64 of 32 bytes.
fn decode_key_bytes(secret: &str) -> Option<Vec<u8>> {
    if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(secret).ok();
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .filter_map(|engine| engine.decode(secret).ok())
        .find(|bytes| bytes.len() == 32)
}

/// The associated data binding a value to its row: the version tag, then the
/// account id and the provider slug, each after its length as 4 big-endian
/// bytes (so no two (account, provider) pairs give the same bytes).
fn associated_data(account_id: &str, provider: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_TAG.len() + 8 + account_id.len() + provider.len());
    aad.extend_from_slice(AAD_TAG);
    for part in [account_id, provider] {
        // Ids and slugs are short; saturating keeps this total.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of the authentication tag appended to each ciphertext.
    const TAG_LEN: usize = 16;

    const HEX_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn cipher() -> ByokCipher {
        ByokCipher::from_secret(HEX_SECRET).unwrap()
    }

    #[test]
    fn round_trip() {
        let c = cipher();
        let sealed = c
            .encrypt("acct_1", "openai", "sk-proj-secret-1234")
            .unwrap();
        assert_eq!(sealed.key_id, c.key_id());
        assert_eq!(
            sealed.ciphertext.len(),
            "sk-proj-secret-1234".len() + TAG_LEN
        );
        let key = c.decrypt("acct_1", "openai", &sealed).unwrap();
        assert_eq!(key.expose(), "sk-proj-secret-1234");
    }

    #[test]
    fn fresh_nonce_each_time() {
        let c = cipher();
        let a = c.encrypt("acct_1", "openai", "same").unwrap();
        let b = c.encrypt("acct_1", "openai", "same").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn wrong_associated_data_fails() {
        let c = cipher();
        let sealed = c.encrypt("acct_1", "openai", "sk-secret").unwrap();
        for (account, provider) in [("acct_2", "openai"), ("acct_1", "anthropic"), ("", "")] {
            assert_eq!(
                c.decrypt(account, provider, &sealed),
                Err(CryptoError::Decrypt),
                "{account}/{provider}"
            );
        }
        // Length prefixes: moving a character across the boundary changes
        // the associated data.
        let sealed = c.encrypt("ab", "c", "sk-secret").unwrap();
        assert_eq!(c.decrypt("a", "bc", &sealed), Err(CryptoError::Decrypt));
    }

    #[test]
    fn tampering_fails() {
        let c = cipher();
        let sealed = c.encrypt("acct_1", "openai", "sk-secret").unwrap();
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 0x01;
            assert_eq!(
                c.decrypt("acct_1", "openai", &bad),
                Err(CryptoError::Decrypt)
            );
        }
        let mut bad = sealed.clone();
        bad.nonce[0] ^= 0x80;
        assert_eq!(
            c.decrypt("acct_1", "openai", &bad),
            Err(CryptoError::Decrypt)
        );
        let mut bad = sealed;
        bad.ciphertext.truncate(TAG_LEN - 1);
        assert_eq!(
            c.decrypt("acct_1", "openai", &bad),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn another_secret_is_a_key_mismatch() {
        let sealed = cipher().encrypt("acct_1", "openai", "sk-secret").unwrap();
        let other = ByokCipher::from_secret(&"x".repeat(40)).unwrap();
        assert_ne!(other.key_id(), cipher().key_id());
        assert!(matches!(
            other.decrypt("acct_1", "openai", &sealed),
            Err(CryptoError::KeyMismatch { .. })
        ));
        // Forging the key id does not help.
        let mut forged = sealed;
        forged.key_id = other.key_id().to_owned();
        assert_eq!(
            other.decrypt("acct_1", "openai", &forged),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn secret_forms() {
        let bytes: Vec<u8> = (0u8..32).collect();
        let hex_cipher = cipher();
        // The same 32 bytes in any accepted encoding give the same key.
        for encoded in [
            STANDARD.encode(&bytes),
            STANDARD_NO_PAD.encode(&bytes),
            URL_SAFE.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
            HEX_SECRET.to_uppercase(),
            format!("  {HEX_SECRET}\n"),
        ] {
            let c = ByokCipher::from_secret(&encoded).unwrap();
            assert_eq!(c.key_id(), hex_cipher.key_id(), "{encoded}");
            let sealed = c.encrypt("a", "p", "k").unwrap();
            assert_eq!(hex_cipher.decrypt("a", "p", &sealed).unwrap().expose(), "k");
        }
        // A passphrase is its own key material.
        let phrase = "correct horse battery staple, and then some";
        let a = ByokCipher::from_secret(phrase).unwrap();
        assert_eq!(
            a.key_id(),
            ByokCipher::from_secret(phrase).unwrap().key_id()
        );
        assert_ne!(a.key_id(), hex_cipher.key_id());
        assert_eq!(a.key_id().len(), 16);
        // Too little.
        assert_eq!(
            ByokCipher::from_secret("  ").unwrap_err(),
            SecretKeyError::Empty
        );
        assert_eq!(
            ByokCipher::from_secret("short passphrase").unwrap_err(),
            SecretKeyError::TooShort
        );
        // 31 bytes of base64 is neither 32 bytes nor a long passphrase.
        assert_eq!(
            ByokCipher::from_secret(&URL_SAFE_NO_PAD.encode([7u8; 16])).unwrap_err(),
            SecretKeyError::TooShort
        );
    }

    #[test]
    fn key_derivation_is_pinned() {
        // HKDF-SHA256 of the bytes 0..32 with this module's salt and info:
        // a change here would make every stored key undecryptable.
        assert_eq!(cipher().key_id(), pinned_key_id());
    }

    /// The key id computed independently of `from_ikm`.
    fn pinned_key_id() -> String {
        use hkdf::hmac::{Hmac, Mac};
        let ikm: Vec<u8> = (0u8..32).collect();
        let mut extract = <Hmac<Sha256> as Mac>::new_from_slice(HKDF_SALT).unwrap();
        extract.update(&ikm);
        let prk = extract.finalize().into_bytes();
        let mut expand = <Hmac<Sha256> as Mac>::new_from_slice(&prk).unwrap();
        expand.update(HKDF_INFO_KEY_ID);
        expand.update(&[1]);
        hex::encode(&expand.finalize().into_bytes()[..8])
    }

    #[test]
    fn debug_redacts() {
        let c = cipher();
        let sealed = c.encrypt("acct_1", "openai", "sk-very-secret").unwrap();
        let key = c.decrypt("acct_1", "openai", &sealed).unwrap();
        let shown = format!("{c:?} {sealed:?} {key:?} {:?}", c.clone());
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(!shown.contains(HEX_SECRET), "{shown}");
        assert!(shown.contains(c.key_id()), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
