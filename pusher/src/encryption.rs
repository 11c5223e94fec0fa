//! End-to-end encryption for `private-encrypted-` channels, wire-compatible with pusher-js.
//!
//! * The per-channel key is `SHA-256(channel_name ‖ master_key)`; its standard base64 is the
//!   `shared_secret` the auth endpoint hands to the client.
//! * A payload is sealed with NaCl `crypto_secretbox` (XSalsa20-Poly1305) under a random 24-byte nonce, and
//!   the event's `data` becomes the JSON text `{"nonce":"<base64>","ciphertext":"<base64>"}`.
//! * Nonces come from rand's thread-local generator (ChaCha12 seeded from the operating system, reseeded in a
//!   forked child before its first nonce, so parent and child never share a stream): no system call per
//!   message.
//! * The plaintext is the event's data string exactly as it would be sent unencrypted (a string value is
//!   encrypted verbatim, any other value as its JSON), as the Python library does. pusher-js parses the
//!   plaintext as JSON and falls back to the raw string.

use std::cell::Cell;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, AeadInPlace, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;
/// The length of a secretbox nonce in bytes.
pub const NONCE_LEN: usize = 24;

/// The 32-byte encryption master key. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses the base64 text of a 32-byte key (standard alphabet, with padding, canonical), e.g. the output
    /// of `openssl rand -base64 32`.
    ///
    /// ```
    /// use pusher::encryption::MasterKey;
    /// assert!(MasterKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_ok());
    /// assert!(MasterKey::from_base64("not base64!").is_err());
    /// ```
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            Error::config(
                "encryption_master_key",
                "must be valid base64 (standard alphabet, padded)",
            )
        })?;
        Self::from_bytes(&bytes)
    }

    /// Uses 32 raw bytes as the key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key: [u8; MASTER_KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::config(
                "encryption_master_key",
                format!("must be {MASTER_KEY_LEN} bytes, got {}", bytes.len()),
            )
        })?;
        Ok(MasterKey(key))
    }

    /// The per-channel key: `SHA-256(channel ‖ master key)`.
    pub fn channel_key(&self, channel: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(channel.as_bytes());
        h.update(self.0);
        h.finalize().into()
    }

    /// The `shared_secret` for `channel`: standard base64 of [`MasterKey::channel_key`].
    pub fn shared_secret(&self, channel: &str) -> String {
        STANDARD.encode(self.channel_key(channel))
    }

    /// Encrypts `plaintext` for `channel` under a fresh random nonce, giving the `data` string to send.
    ///
    /// The nonce is drawn from this thread's nonce generator (see the [module documentation](self));
    /// [`Error::Encryption`] if the operating system's random source cannot seed it.
    pub fn encrypt(&self, channel: &str, plaintext: &[u8]) -> Result<String> {
        let nonce = fresh_nonce()?;
        self.seal(channel, plaintext, &nonce)
    }

    /// Encrypts with a caller-chosen nonce, for known-answer tests only (feature `testing`): reusing a nonce
    /// under the same channel key breaks the encryption, so production code must use
    /// [`MasterKey::encrypt`], which draws a fresh random nonce every time.
    #[cfg(any(test, feature = "testing"))]
    pub fn encrypt_with_nonce(
        &self,
        channel: &str,
        plaintext: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<String> {
        self.seal(channel, plaintext, nonce)
    }

    fn seal(&self, channel: &str, plaintext: &[u8], nonce: &[u8; NONCE_LEN]) -> Result<String> {
        const TAG_LEN: usize = 16;
        const PREFIX: &str = r#"{"nonce":""#;
        const MIDDLE: &str = r#"","ciphertext":""#;
        const SUFFIX: &str = r#""}"#;
        let cipher = XSalsa20Poly1305::new(Key::from_slice(&self.channel_key(channel)));
        // The secretbox output is the 16-byte tag then the ciphertext: seal in place behind the tag's room.
        let mut sealed = Vec::with_capacity(TAG_LEN + plaintext.len());
        sealed.extend_from_slice(&[0u8; TAG_LEN]);
        sealed.extend_from_slice(plaintext);
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", &mut sealed[TAG_LEN..])
            .map_err(|_| Error::Encryption("encryption failed"))?;
        sealed[..TAG_LEN].copy_from_slice(&tag);
        // The JSON of `EncryptedPayload`, written directly into the one output buffer (base64 never needs
        // escaping), each base64 encoded straight into it.
        let b64_len = |n: usize| n.div_ceil(3) * 4;
        let mut out = String::with_capacity(
            PREFIX.len() + MIDDLE.len() + SUFFIX.len() + b64_len(NONCE_LEN) + b64_len(sealed.len()),
        );
        out.push_str(PREFIX);
        base64_simd::STANDARD.encode_append(nonce, &mut out);
        out.push_str(MIDDLE);
        base64_simd::STANDARD.encode_append(&sealed, &mut out);
        out.push_str(SUFFIX);
        Ok(out)
    }

    /// Opens a payload (`{"nonce","ciphertext"}`, as a JSON text) sent on `channel`, giving the plaintext.
    pub fn decrypt(&self, channel: &str, data: &str) -> Result<Vec<u8>> {
        self.open(channel, data)
            .map_err(|e| Error::Encryption(e.reason()))
    }

    /// Opens an already parsed payload.
    pub fn decrypt_payload(&self, channel: &str, payload: &EncryptedPayload) -> Result<Vec<u8>> {
        self.open_payload(channel, payload)
            .map_err(|e| Error::Encryption(e.reason()))
    }

    /// [`MasterKey::decrypt`] with the typed reason. Linear in the size of `data`, and never panics.
    pub(crate) fn open(
        &self,
        channel: &str,
        data: &str,
    ) -> std::result::Result<Vec<u8>, DecryptError> {
        let payload: EncryptedPayload =
            serde_json::from_str(data).map_err(|_| DecryptError::NotAPayload)?;
        self.open_payload(channel, &payload)
    }

    fn open_payload(
        &self,
        channel: &str,
        payload: &EncryptedPayload,
    ) -> std::result::Result<Vec<u8>, DecryptError> {
        // The base64 of 24 bytes is 32 characters: anything longer is refused before it is decoded.
        if payload.nonce.len() != NONCE_LEN.div_ceil(3) * 4 {
            return Err(DecryptError::BadNonce);
        }
        let nonce = STANDARD
            .decode(&payload.nonce)
            .map_err(|_| DecryptError::BadNonce)?;
        if nonce.len() != NONCE_LEN {
            return Err(DecryptError::BadNonce);
        }
        let ciphertext = STANDARD
            .decode(&payload.ciphertext)
            .map_err(|_| DecryptError::BadCiphertext)?;
        let cipher = XSalsa20Poly1305::new(Key::from_slice(&self.channel_key(channel)));
        cipher
            .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
            .map_err(|_| DecryptError::AuthenticationFailed)
    }
}

thread_local! {
    /// Whether the operating system's random source answered once in this thread (see [`fresh_nonce`]).
    static OS_RANDOM_WORKS: Cell<bool> = const { Cell::new(false) };
}

/// A fresh random nonce from rand's thread-local generator (`ThreadRng`: ChaCha12 seeded from the operating
/// system, reseeded every 64 KiB of output and, through a `pthread_atfork` handler, in a forked child before
/// its first draw: parent and child never share a stream, whatever their process ids — a child that is
/// pid 1 in a new pid namespace too). A nonce reused under one key would let the two messages be read and
/// forged; nonces are public, so the generator's only duty is never to repeat one (n nonces of 192 bits
/// repeat with a probability of about n²/2^193). No system call per message.
///
/// `ThreadRng` panics when the OS cannot seed it: the OS source is asked once per thread first, so that this
/// failure is [`Error::Encryption`]. Not covered (as with any userspace generator): a process snapshot
/// restored twice (CRIU, a VM snapshot).
fn fresh_nonce() -> Result<[u8; NONCE_LEN]> {
    if !OS_RANDOM_WORKS.with(Cell::get) {
        let mut probe = [0u8; 1];
        OsRng
            .try_fill_bytes(&mut probe)
            .map_err(|_| Error::Encryption("the system random number generator failed"))?;
        OS_RANDOM_WORKS.with(|works| works.set(true));
    }
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng()
        .try_fill_bytes(&mut nonce)
        .map_err(|_| Error::Encryption("the random number generator failed"))?;
    Ok(nonce)
}

/// Why an encrypted payload could not be opened. The messages are fixed and never contain the data or a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DecryptError {
    /// The data is not the JSON object `{"nonce": "<base64>", "ciphertext": "<base64>"}`.
    #[error("payload is not {{\"nonce\",\"ciphertext\"}} JSON")]
    NotAPayload,
    /// The nonce is not the standard base64 of 24 bytes.
    #[error("nonce is not the base64 of 24 bytes")]
    BadNonce,
    /// The ciphertext is not standard base64.
    #[error("ciphertext is not base64")]
    BadCiphertext,
    /// The ciphertext does not authenticate: another master key, another channel, or tampered data.
    #[error("decryption failed (wrong key, channel or tampered data)")]
    AuthenticationFailed,
    /// The plaintext is not UTF-8 text (where text is expected: webhook client events, as pusher-js).
    #[error("plaintext is not UTF-8")]
    NotUtf8,
}

impl DecryptError {
    /// The fixed message, as a `&'static str`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecryptError::NotAPayload => "payload is not {\"nonce\",\"ciphertext\"} JSON",
            DecryptError::BadNonce => "nonce is not the base64 of 24 bytes",
            DecryptError::BadCiphertext => "ciphertext is not base64",
            DecryptError::AuthenticationFailed => {
                "decryption failed (wrong key, channel or tampered data)"
            }
            DecryptError::NotUtf8 => "plaintext is not UTF-8",
        }
    }
}

/// The `data` of an event on an encrypted channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EncryptedPayload {
    /// Standard base64 of the 24-byte nonce.
    pub nonce: String,
    /// Standard base64 of the secretbox output (16-byte tag, then the encrypted bytes).
    pub ciphertext: String,
}

impl EncryptedPayload {
    /// A payload from its two base64 fields (as read from an event's `data` by other means than serde).
    pub fn new(nonce: impl Into<String>, ciphertext: impl Into<String>) -> Self {
        EncryptedPayload {
            nonce: nonce.into(),
            ciphertext: ciphertext.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn python_secretbox_vector() {
        let key = MasterKey::from_bytes(b"OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5").unwrap();
        let nonce: [u8; 24] = *b"XAJI0Y6DPBHSAHXTHV3A3ZMF";
        let out = key
            .encrypt_with_nonce(
                "pvUPIk0YG6MnxCEMIUUVFrbDmQwbhICXUcy",
                b"kkkT5OOkOkO5kT5TOO5TkOT5TTk5O55T",
                &nonce,
            )
            .unwrap();
        assert_eq!(
            out,
            r#"{"nonce":"WEFKSTBZNkRQQkhTQUhYVEhWM0EzWk1G","ciphertext":"tsYJa2JgGDOpVIYFe4aNVWAvZlpB7z7CjN9mpIdbATE0Yc4izN8aM8D6VigBxnIQ"}"#
        );
    }

    #[test]
    fn payload_json_matches_serde() {
        let key = MasterKey::from_base64(KEY).unwrap();
        for len in [0usize, 1, 2, 3, 31, 1024] {
            let plain = vec![b'x'; len];
            let out = key
                .encrypt_with_nonce("private-encrypted-a", &plain, &[7u8; NONCE_LEN])
                .unwrap();
            let p: EncryptedPayload = serde_json::from_str(&out).unwrap();
            assert_eq!(out, serde_json::to_string(&p).unwrap());
            assert_eq!(key.decrypt("private-encrypted-a", &out).unwrap(), plain);
        }
    }

    #[test]
    fn shared_secret_vector() {
        let key = MasterKey::from_base64("OHRXNUZRTG5pUTFzQlFGd3J3N3Q2VFZFc0paZDEweVk=").unwrap();
        assert_eq!(
            key.shared_secret("private-encrypted-channel"),
            "VmIsNZtCSteh8kazd2toc+ofhohBtUouQRSDtRvuyVI="
        );
    }

    #[test]
    fn roundtrip_and_tamper() {
        let key = MasterKey::from_base64(KEY).unwrap();
        let data = key.encrypt("private-encrypted-a", b"{\"x\":1}").unwrap();
        assert_eq!(
            key.decrypt("private-encrypted-a", &data).unwrap(),
            b"{\"x\":1}"
        );
        assert!(key.decrypt("private-encrypted-b", &data).is_err());
        assert!(key.decrypt("private-encrypted-a", "not json").is_err());
        let mut p: EncryptedPayload = serde_json::from_str(&data).unwrap();
        p.nonce = STANDARD.encode([0u8; 5]);
        assert!(key.decrypt_payload("private-encrypted-a", &p).is_err());
    }

    #[test]
    fn encrypt_draws_a_new_nonce_each_time() {
        let key = MasterKey::from_base64(KEY).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let p: EncryptedPayload =
                serde_json::from_str(&key.encrypt("private-encrypted-a", b"x").unwrap()).unwrap();
            assert!(seen.insert(p.nonce), "a nonce repeated");
        }
        // Another thread has its own generator (seeded on its first use), not a copy of this one's.
        let theirs = std::thread::spawn(fresh_nonce).join().unwrap().unwrap();
        assert!(!seen.contains(&STANDARD.encode(theirs)));
    }

    #[test]
    fn bad_keys() {
        assert!(MasterKey::from_base64("AAAA").is_err());
        // Non-canonical trailing bits are refused (as the Python library does).
        assert!(MasterKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=").is_err());
        assert!(format!("{:?}", MasterKey::from_base64(KEY).unwrap()).contains("redacted"));
    }
}
