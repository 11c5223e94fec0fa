//! Decryption: `MasterKey::decrypt` (and `Pusher::decrypt`) with arbitrary channels and data strings.
//!
//! Input: `[flags] channel 0xFF data`. `flags & 3` is the mode: 0 = data as the payload text;
//! 1 = data as raw bytes, nonce (first 24, zero-padded) and ciphertext (the rest) wrapped as base64 JSON so
//! the cipher itself runs; 2 = round trip: encrypt `data` under a nonce taken from it, decrypt, then flip
//! one bit (chosen by the input) and expect a refusal; 3 = like 0, through `Pusher::decrypt`.
//!
//! Properties beyond "no panic": round trips give the plaintext back; tampered or wrong-channel payloads are
//! refused.

#![no_main]

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use libfuzzer_sys::fuzz_target;
use pusher::encryption::{EncryptedPayload, MasterKey, NONCE_LEN};

fuzz_target!(|data: &[u8]| {
    let (flags, f) = split(data, 2);
    let key = MasterKey::from_base64(MASTER_KEY_B64).expect("the fuzz key is valid");
    let channel = text(&f, 0);
    let bytes = field(&f, 1);
    match flags & 3 {
        0 => {
            let _ = key.decrypt(&channel, &String::from_utf8_lossy(bytes));
        }
        1 => {
            let mut nonce = [0u8; NONCE_LEN];
            let n = bytes.len().min(NONCE_LEN);
            nonce[..n].copy_from_slice(&bytes[..n]);
            let payload =
                EncryptedPayload::new(STANDARD.encode(nonce), STANDARD.encode(&bytes[n..]));
            let text = serde_json::to_string(&payload).expect("payload serializes");
            let a = key.decrypt(&channel, &text);
            let b = key.decrypt_payload(&channel, &payload);
            assert_eq!(a.is_ok(), b.is_ok());
        }
        2 => {
            let mut nonce = [0u8; NONCE_LEN];
            let n = bytes.len().min(NONCE_LEN);
            nonce[..n].copy_from_slice(&bytes[..n]);
            let sealed = key
                .encrypt_with_nonce(&channel, bytes, &nonce)
                .expect("encryption never fails");
            let opened = key
                .decrypt(&channel, &sealed)
                .expect("a sealed payload opens");
            assert_eq!(opened, bytes);
            let other = format!("{channel}x");
            assert!(
                key.decrypt(&other, &sealed).is_err(),
                "opened on another channel"
            );
            let mut p: EncryptedPayload = serde_json::from_str(&sealed).expect("payload JSON");
            let mut ct = STANDARD.decode(&p.ciphertext).expect("base64");
            let bit = usize::from(flags >> 2) % (ct.len() * 8);
            ct[bit / 8] ^= 1 << (bit % 8);
            p.ciphertext = STANDARD.encode(&ct);
            assert!(
                key.decrypt_payload(&channel, &p).is_err(),
                "tampered payload opened"
            );
        }
        _ => {
            let _ = client(true, true).decrypt(&channel, &String::from_utf8_lossy(bytes));
            assert!(client(false, true).decrypt(&channel, "{}").is_err());
        }
    }
});
