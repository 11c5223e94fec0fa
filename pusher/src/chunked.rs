//! Chunked events: data larger than the server's limit, split into events that pusher-js reassembles.
//!
//! The format is the one of Pusher's official chunking example: the event `<event>` with data over the
//! limit is sent as events named `chunked-<event>`, each with data
//! `{"id": <message id>, "index": <0..n-1>, "chunk": <a piece of the data string>, "final": <true on the last>}`,
//! in order, one request per chunk. The client collects the pieces by `id` and, once the final one and every
//! earlier one have arrived, joins them by `index` and hands the whole data to the handler of `<event>`.
//!
//! Chunking is opt-in: per call ([`TriggerOptions::chunked`](crate::TriggerOptions::chunked)) or for every
//! trigger of a client ([`PusherBuilder::chunked_events`](crate::PusherBuilder::chunked_events)). Data within
//! the limit is sent as a plain `<event>`; without the option, data over the limit stays an
//! [`Error::Validation`] (`field` = `"data"`).
//!
//! * Sizes count bytes of what is sent: each chunk's whole `data` (the JSON wrapper, with the piece's JSON
//!   escapes) is within [`max_data_bytes`](crate::PusherBuilder::max_data_bytes), and on a
//!   `private-encrypted-` channel within it *after* encryption (each chunk is encrypted on its own, and
//!   pusher-js decrypts it before the reassembling handler sees it).
//! * A piece never ends inside a UTF-8 character, nor inside a JSON escape.
//! * With an idempotency key (explicit, or generated when POST retries are on), chunk `i` is sent with
//!   `KEY:i`, and the message id is the explicit key when there is one, so a caller retrying the whole call
//!   with the same key completes the same message.
//! * If a chunk fails, the call returns its error and the later chunks are not sent; the client then holds
//!   an incomplete message (the snippet below drops it after a minute).
//!
//! The pusher-js side (also in the crate README and in the project's end-to-end tests):
//!
//! ```js
//! function bindWithChunking(channel, event, callback) {
//!   channel.bind(event, callback); // data within the limit arrives as a plain event
//!   const pending = new Map(); // message id -> {chunks, final, timer}
//!   channel.bind("chunked-" + event, (data) => {
//!     let m = pending.get(data.id);
//!     if (!m) {
//!       m = { chunks: [], final: false, timer: setTimeout(() => pending.delete(data.id), 60000) };
//!       pending.set(data.id, m);
//!     }
//!     m.chunks[data.index] = data.chunk;
//!     if (data.final) m.final = true;
//!     if (m.final && Object.keys(m.chunks).length === m.chunks.length) {
//!       clearTimeout(m.timer);
//!       pending.delete(data.id);
//!       const whole = m.chunks.join("");
//!       let parsed;
//!       try { parsed = JSON.parse(whole); } catch (e) { parsed = whole; } // as pusher-js does
//!       callback(parsed);
//!     }
//!   });
//! }
//! ```

use crate::encryption::NONCE_LEN;
use crate::error::{Error, Result};
use crate::trigger::{ESCAPE, push_json_str};

/// The prefix of a chunked event's name: `chunked-<event>`.
pub const CHUNKED_EVENT_PREFIX: &str = "chunked-";

/// The length of the `data` an encrypted channel sends for a plaintext of `plaintext_len` bytes:
/// `{"nonce":"<base64 of 24 bytes>","ciphertext":"<base64 of plaintext + 16-byte tag>"}`.
///
/// ```
/// assert_eq!(pusher::chunked::encrypted_len(0), 60 + 24);
/// ```
pub fn encrypted_len(plaintext_len: usize) -> usize {
    const FRAME: usize = r#"{"nonce":"","ciphertext":""}"#.len();
    let b64 = |n: usize| n.div_ceil(3).saturating_mul(4);
    FRAME + b64(NONCE_LEN) + b64(plaintext_len.saturating_add(TAG_LEN))
}

/// The secretbox tag's length.
const TAG_LEN: usize = 16;

/// The largest plaintext whose encrypted `data` is within `max` bytes (0 when none fits).
pub fn max_plaintext_for_encrypted(max: usize) -> usize {
    const FRAME: usize = r#"{"nonce":"","ciphertext":""}"#.len();
    let fixed = FRAME + NONCE_LEN.div_ceil(3) * 4;
    let groups = max.saturating_sub(fixed) / 4;
    (groups * 3).saturating_sub(TAG_LEN)
}

/// How many bytes `c` takes inside a JSON string, as [`push_json_str`] writes it.
fn escaped_len(c: char) -> usize {
    if c.is_ascii() {
        match ESCAPE[usize::from(c as u8)] {
            0 => 1,
            b'u' => 6,
            _ => 2,
        }
    } else {
        c.len_utf8()
    }
}

/// The wrapper of chunk `index`: `{"id":…,"index":…,"chunk":…,"final":…}`.
pub(crate) fn wrapper(id: &str, index: usize, chunk: &str, last: bool) -> String {
    let mut out = Vec::with_capacity(chunk.len() + id.len() + 64);
    out.extend_from_slice(b"{\"id\":");
    push_json_str(&mut out, id);
    out.extend_from_slice(b",\"index\":");
    out.extend_from_slice(index.to_string().as_bytes());
    out.extend_from_slice(b",\"chunk\":");
    push_json_str(&mut out, chunk);
    out.extend_from_slice(if last {
        b",\"final\":true}"
    } else {
        b",\"final\":false}"
    });
    // Only valid UTF-8 was written (JSON text of `str`s and ASCII).
    String::from_utf8(out).unwrap_or_default()
}

/// Splits `data` into pieces whose wrappers (with message id `id`) are each at most `max_wrapper` bytes,
/// cutting only between characters. One pass over `data`.
pub(crate) fn split<'a>(data: &'a str, id: &str, max_wrapper: usize) -> Result<Vec<&'a str>> {
    // The wrapper without its piece, with the widest index any piece can have (at most one piece per
    // byte) and `false` (longer than `true`).
    let index_width = data.len().max(1).to_string().len();
    let mut id_json = Vec::with_capacity(id.len() + 2);
    push_json_str(&mut id_json, id);
    let overhead =
        r#"{"id":,"index":,"chunk":"","final":false}"#.len() + id_json.len() + index_width;
    let budget = max_wrapper.saturating_sub(overhead);
    // The widest character takes 6 bytes (`\u00XX`); a budget below that could not always progress.
    if budget < 6 {
        return Err(Error::validation(
            "data",
            format!(
                "the data limit of {max_wrapper} bytes leaves no room for a chunk after the chunk's own fields"
            ),
        ));
    }
    let mut pieces = Vec::with_capacity(data.len() / budget + 1);
    let mut start = 0;
    let mut used = 0;
    for (at, c) in data.char_indices() {
        let len = escaped_len(c);
        if used + len > budget {
            pieces.push(&data[start..at]);
            start = at;
            used = 0;
        }
        used += len;
    }
    if start < data.len() || pieces.is_empty() {
        pieces.push(&data[start..]);
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_lengths_match_real_encryption() {
        let key = crate::encryption::MasterKey::from_bytes(&[7u8; 32]).unwrap();
        for n in [0, 1, 2, 3, 4, 100, 1000, 10_000] {
            let sealed = key.encrypt("private-encrypted-a", &vec![b'x'; n]).unwrap();
            assert_eq!(sealed.len(), encrypted_len(n), "{n}");
        }
        for max in [0, 10, 84, 85, 100, 1000, 10_240] {
            let n = max_plaintext_for_encrypted(max);
            if n > 0 {
                assert!(encrypted_len(n) <= max, "{max}");
            }
            assert!(
                encrypted_len(n + 1) > max || max < 84,
                "{max}: {n} is not the largest"
            );
        }
    }

    #[test]
    fn pieces_fit_rejoin_and_never_split_a_character() {
        let data = format!("{{\"t\":\"{}\"}}", "aé€😀\"\\\n\u{1}".repeat(500));
        for max in [64, 100, 257, 1000, 10_240] {
            let pieces = split(&data, "id-1", max).unwrap();
            assert_eq!(pieces.concat(), data);
            let n = pieces.len();
            for (i, p) in pieces.iter().enumerate() {
                let w = wrapper("id-1", i, p, i + 1 == n);
                assert!(w.len() <= max, "{max}: piece {i} is {} bytes", w.len());
                let v: serde_json::Value = serde_json::from_str(&w).unwrap();
                assert_eq!(v["chunk"], *p);
                assert_eq!(v["index"], i);
                assert_eq!(v["final"], i + 1 == n);
            }
            // Pieces are near full: each but the last within one character (6 bytes) of the budget.
            if max >= 257 {
                let escaped = serde_json::to_string(&data).unwrap().len() - 2;
                assert!(n <= escaped / (max - 60 - 6) + 1, "{max}: {n} pieces");
            }
        }
        assert!(split(&data, "id", 40).is_err());
        assert_eq!(split("", "id", 100).unwrap(), [""]);
    }
}
