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
//! * The secretbox itself is the pure-Rust `crypto_secretbox` crate, or with the `libsodium` feature
//!   libsodium's `crypto_secretbox_detached` / `crypto_secretbox_open_detached` (SIMD XSalsa20 and Poly1305
//!   chosen for the CPU at run time): the same bytes either way.

use std::cell::Cell;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;
/// The length of a secretbox nonce in bytes.
pub const NONCE_LEN: usize = 24;
/// The length of a secretbox authentication tag in bytes (the first bytes of the sealed box).
const TAG_LEN: usize = 16;

#[cfg(not(feature = "libsodium"))]
use rust_box::{open as box_open, seal_in_place as box_seal_in_place};
#[cfg(feature = "libsodium")]
use sodium::{open as box_open, seal_in_place as box_seal_in_place};

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
        const PREFIX: &str = r#"{"nonce":""#;
        const MIDDLE: &str = r#"","ciphertext":""#;
        const SUFFIX: &str = r#""}"#;
        // The secretbox output is the 16-byte tag then the ciphertext: seal in place behind the tag's room.
        let mut sealed = Vec::with_capacity(TAG_LEN + plaintext.len());
        sealed.extend_from_slice(&[0u8; TAG_LEN]);
        sealed.extend_from_slice(plaintext);
        let tag = box_seal_in_place(&self.channel_key(channel), nonce, &mut sealed[TAG_LEN..])?;
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
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(&payload.nonce)
            .map_err(|_| DecryptError::BadNonce)?
            .try_into()
            .map_err(|_| DecryptError::BadNonce)?;
        let sealed = STANDARD
            .decode(&payload.ciphertext)
            .map_err(|_| DecryptError::BadCiphertext)?;
        box_open(&self.channel_key(channel), &nonce, sealed)
    }
}

/// The secretbox through the pure-Rust `crypto_secretbox` crate (the default; with the `libsodium` feature it
/// stays for the tests, which check both give the same bytes, and as the fallback of its `open`).
mod rust_box {
    use crypto_secretbox::aead::{Aead, KeyInit};
    use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};

    use super::{DecryptError, NONCE_LEN};

    /// Encrypts `text` in place under `key` and `nonce`, giving the authentication tag.
    #[cfg(any(not(feature = "libsodium"), test))]
    pub(super) fn seal_in_place(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        text: &mut [u8],
    ) -> crate::error::Result<[u8; super::TAG_LEN]> {
        use crate::error::Error;
        use crypto_secretbox::aead::AeadInPlace;
        let tag = XSalsa20Poly1305::new(Key::from_slice(key))
            .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", text)
            .map_err(|_| Error::Encryption("encryption failed"))?;
        Ok(tag.into())
    }

    /// Opens a sealed box (tag, then ciphertext), giving the plaintext.
    pub(super) fn open(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        sealed: Vec<u8>,
    ) -> std::result::Result<Vec<u8>, DecryptError> {
        XSalsa20Poly1305::new(Key::from_slice(key))
            .decrypt(Nonce::from_slice(nonce), sealed.as_slice())
            .map_err(|_| DecryptError::AuthenticationFailed)
    }
}

/// The secretbox through libsodium (feature `libsodium`): the only module of the workspace with `unsafe`
/// code, the FFI calls.
#[cfg(feature = "libsodium")]
#[allow(unsafe_code)]
mod sodium {
    use std::ffi::c_ulonglong;
    use std::sync::atomic::{AtomicBool, Ordering};

    use libsodium_sys as ffi;
    use rand_core::{OsRng, RngCore};

    use super::{DecryptError, NONCE_LEN, TAG_LEN};
    use crate::error::{Error, Result};

    // The sizes the FFI calls below rely on, checked against libsodium's headers at compile time (an array
    // of one length given for another does not compile).
    const _: [(); 32] = [(); ffi::crypto_secretbox_KEYBYTES as usize];
    const _: [(); NONCE_LEN] = [(); ffi::crypto_secretbox_NONCEBYTES as usize];
    const _: [(); TAG_LEN] = [(); ffi::crypto_secretbox_MACBYTES as usize];

    /// Whether `sodium_init` succeeded in this process.
    static READY: AtomicBool = AtomicBool::new(false);

    /// Initialises libsodium once per process (it picks the SIMD code for this CPU); until that succeeds,
    /// every call tries again, so a passing failure is not remembered.
    fn ensure_ready() -> Result<()> {
        // Acquire: a thread that sees `true` sees everything `sodium_init` set up in the thread that ran it.
        if READY.load(Ordering::Acquire) {
            return Ok(());
        }
        initialise(|probe| OsRng.try_fill_bytes(probe).is_ok())?;
        READY.store(true, Ordering::Release);
        Ok(())
    }

    /// Asks the operating system's random source for a byte (`os_random`), then runs `sodium_init`.
    ///
    /// `sodium_init` also seeds libsodium's own random generator (unused here) from `getrandom(2)`, else
    /// `/dev/urandom`, and aborts the process when neither answers: the same sources are asked first
    /// through `os_random`, so that this failure is [`Error::Encryption`] instead.
    pub(super) fn initialise(os_random: impl FnOnce(&mut [u8]) -> bool) -> Result<()> {
        if !os_random(&mut [0u8; 1]) {
            return Err(Error::Encryption(
                "libsodium not initialised: the system random number generator failed",
            ));
        }
        // SAFETY: `sodium_init` takes no arguments; it is thread-safe (a lock of its own) and may be called
        // more than once (it answers 1 once initialised). It fails only with -1.
        if unsafe { ffi::sodium_init() } < 0 {
            return Err(Error::Encryption("libsodium could not be initialised"));
        }
        Ok(())
    }

    /// Encrypts `text` in place under `key` and `nonce`, giving the authentication tag.
    pub(super) fn seal_in_place(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        text: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        ensure_ready()?;
        let len = c_ulonglong::try_from(text.len())
            .map_err(|_| Error::Encryption("encryption failed"))?;
        let mut tag = [0u8; TAG_LEN];
        let text = text.as_mut_ptr();
        // SAFETY: `text` is valid for reads and writes of `len` bytes, `tag` for writes of MACBYTES (16)
        // bytes, `nonce` and `key` for reads of NONCEBYTES (24) and KEYBYTES (32) bytes (the asserts above);
        // all are live for the call, which keeps none of them. libsodium documents that the ciphertext may
        // overwrite the message (`c == m`, in place) and `crypto_secretbox_detached` handles any overlap.
        let status = unsafe {
            ffi::crypto_secretbox_detached(
                text,
                tag.as_mut_ptr(),
                text,
                len,
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        if status != 0 {
            return Err(Error::Encryption("encryption failed"));
        }
        Ok(tag)
    }

    /// Opens a sealed box (tag, then ciphertext) in place, giving the plaintext. If libsodium cannot be
    /// initialised, the pure-Rust code opens it instead (the same result): reading never fails for it.
    pub(super) fn open(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        mut sealed: Vec<u8>,
    ) -> std::result::Result<Vec<u8>, DecryptError> {
        if ensure_ready().is_err() {
            return super::rust_box::open(key, nonce, sealed);
        }
        let Some((tag, text)) = sealed.split_first_chunk_mut::<TAG_LEN>() else {
            return Err(DecryptError::AuthenticationFailed);
        };
        let len =
            c_ulonglong::try_from(text.len()).map_err(|_| DecryptError::AuthenticationFailed)?;
        let text = text.as_mut_ptr();
        // SAFETY: `text` is valid for reads and writes of `len` bytes, `tag` for reads of MACBYTES (16)
        // bytes, `nonce` and `key` for reads of NONCEBYTES (24) and KEYBYTES (32) bytes (the asserts above);
        // all are live for the call, which keeps none of them. libsodium documents that the message may
        // overwrite the ciphertext (`m == c`, in place); it writes nothing unless the tag verifies.
        let status = unsafe {
            ffi::crypto_secretbox_open_detached(
                text,
                text,
                tag.as_ptr(),
                len,
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        if status != 0 {
            return Err(DecryptError::AuthenticationFailed);
        }
        sealed.drain(..TAG_LEN);
        Ok(sealed)
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

    /// A sealed box opened through the public API with one byte changed (or cut short) is refused, on
    /// whichever secretbox this build uses.
    #[test]
    fn tampered_or_truncated_boxes_are_rejected() {
        let key = MasterKey::from_base64(KEY).unwrap();
        let nonce = [9u8; NONCE_LEN];
        let data = key
            .encrypt_with_nonce("private-encrypted-a", &[b'z'; 40], &nonce)
            .unwrap();
        let payload: EncryptedPayload = serde_json::from_str(&data).unwrap();
        let sealed = STANDARD.decode(&payload.ciphertext).unwrap();
        assert_eq!(sealed.len(), TAG_LEN + 40);
        let open = |nonce: &[u8], sealed: &[u8]| {
            let p = EncryptedPayload::new(STANDARD.encode(nonce), STANDARD.encode(sealed));
            key.open_payload("private-encrypted-a", &p)
        };
        assert_eq!(open(&nonce, &sealed).unwrap(), [b'z'; 40]);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(&nonce, &bad),
                Err(DecryptError::AuthenticationFailed),
                "byte {i}"
            );
        }
        for i in 0..NONCE_LEN {
            let mut bad = nonce;
            bad[i] ^= 0x80;
            assert_eq!(
                open(&bad, &sealed),
                Err(DecryptError::AuthenticationFailed),
                "nonce {i}"
            );
        }
        for len in 0..sealed.len() {
            assert_eq!(
                open(&nonce, &sealed[..len]),
                Err(DecryptError::AuthenticationFailed),
                "cut to {len}"
            );
        }
    }

    /// libsodium and the pure-Rust crate seal to the same bytes, each opens the other's boxes, and both
    /// refuse a tampered box.
    #[cfg(feature = "libsodium")]
    #[test]
    fn libsodium_and_rust_secretbox_agree() {
        use super::{rust_box, sodium};
        let master = MasterKey::from_base64(KEY).unwrap();
        for (i, len) in [0usize, 1, 15, 16, 17, 63, 64, 65, 1023, 1024, 4096, 65536]
            .into_iter()
            .enumerate()
        {
            let key = master.channel_key(&format!("private-encrypted-{i}"));
            let nonce: [u8; NONCE_LEN] = std::array::from_fn(|j| (j * 7 + i * 13) as u8);
            let plain: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();

            let mut ours = plain.clone();
            let rust_tag = rust_box::seal_in_place(&key, &nonce, &mut ours).unwrap();
            let mut theirs = plain.clone();
            let sodium_tag = sodium::seal_in_place(&key, &nonce, &mut theirs).unwrap();
            assert_eq!(rust_tag, sodium_tag, "tag, {len} bytes");
            assert_eq!(ours, theirs, "ciphertext, {len} bytes");
            if len > 0 {
                assert_ne!(ours, plain, "{len} bytes left unencrypted");
            }

            let boxed = [&rust_tag[..], &ours].concat();
            assert_eq!(sodium::open(&key, &nonce, boxed.clone()).unwrap(), plain);
            assert_eq!(rust_box::open(&key, &nonce, boxed.clone()).unwrap(), plain);
            // The public path (`seal` with this build's secretbox) gives the same box.
            let data = master
                .encrypt_with_nonce(&format!("private-encrypted-{i}"), &plain, &nonce)
                .unwrap();
            let payload: EncryptedPayload = serde_json::from_str(&data).unwrap();
            assert_eq!(STANDARD.decode(&payload.ciphertext).unwrap(), boxed);

            for at in [0, TAG_LEN - 1, TAG_LEN, boxed.len() - 1] {
                let mut bad = boxed.clone();
                if at >= bad.len() {
                    continue;
                }
                bad[at] ^= 0x40;
                let refused = Err(DecryptError::AuthenticationFailed);
                assert_eq!(
                    sodium::open(&key, &nonce, bad.clone()),
                    refused,
                    "{len} bytes, byte {at}"
                );
                assert_eq!(
                    rust_box::open(&key, &nonce, bad),
                    refused,
                    "{len} bytes, byte {at}"
                );
            }
        }
    }

    /// A random source that fails before `sodium_init` is an `Error::Encryption`, not libsodium's abort.
    #[cfg(feature = "libsodium")]
    #[test]
    fn libsodium_init_failure_is_a_typed_error() {
        assert!(matches!(
            super::sodium::initialise(|_| false),
            Err(Error::Encryption(_))
        ));
        assert!(super::sodium::initialise(|_| true).is_ok());
    }

    #[test]
    fn bad_keys() {
        assert!(MasterKey::from_base64("AAAA").is_err());
        // Non-canonical trailing bits are refused (as the Python library does).
        assert!(MasterKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=").is_err());
        assert!(format!("{:?}", MasterKey::from_base64(KEY).unwrap()).contains("redacted"));
    }
}
