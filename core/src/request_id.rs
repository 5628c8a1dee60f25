//! Request ids (`x-request-id`): which incoming values are kept, and how a
//! made one is spelled. The randomness itself is the host's (`wasi:random`).

/// The longest incoming id kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// An incoming id is kept when it is 1..=128 bytes of `[A-Za-z0-9._:-]`:
/// enough for UUIDs, W3C trace ids and most tracers' ids, and nothing that
/// could forge a log line or a header.
pub fn is_safe(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A made id: the random bytes in lower-case hex (16 bytes give 32 digits).
pub fn from_random(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_tokens_are_kept_and_others_are_not() {
        for ok in [
            "a",
            "req-123",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "a.b_c:d-e",
        ] {
            assert!(is_safe(ok.as_bytes()), "{ok}");
        }
        assert!(is_safe(&[b'x'; 128]));
        assert!(!is_safe(&[b'x'; 129]));
        for bad in ["", "a b", "a\r\nb", "a/b", "é", "a,b", "\"a\""] {
            assert!(!is_safe(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn made_ids_are_hex() {
        assert_eq!(from_random(&[0x00, 0xab, 0x10, 0xff]), "00ab10ff");
    }
}
