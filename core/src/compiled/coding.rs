//! The byte coding of the compiled origin table: keys in the table's form
//! (hosts reversed), LEB128 numbers, front- and back-coded entries, and the
//! piecewise comparison a search uses.

/// Compares `entry` with the concatenation of `parts`, without building it.
pub(super) fn cmp_concat(entry: &[u8], parts: &[&[u8]]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let mut rest = entry;
    for part in parts {
        let n = rest.len().min(part.len());
        match rest[..n].cmp(&part[..n]) {
            Ordering::Equal if rest.len() < part.len() => return Ordering::Less,
            Ordering::Equal => rest = &rest[n..],
            other => return other,
        }
    }
    if rest.is_empty() {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

pub(super) fn put_leb128(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// One LEB128 number at `*at` (advanced past it); `None` past the end or
/// beyond 32 bits.
fn get_leb128(data: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in [0, 7, 14, 21, 28] {
        let b = *data.get(*at)?;
        *at += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

/// One encoded key at `*at`: `(p, s, middle)`.
pub(super) fn get_entry<'d>(data: &'d [u8], at: &mut usize) -> Option<(usize, usize, &'d [u8])> {
    let p = get_leb128(data, at)?;
    let s = get_leb128(data, at)?;
    let m = get_leb128(data, at)?;
    let middle = data.get(*at..at.checked_add(m)?)?;
    *at += m;
    Some((p, s, middle))
}

/// Writes `host` with its dot-separated labels in reverse order to `out`
/// (the same length): "a.b.example.com" → "com.example.b.a". An IPv6 literal
/// is copied as it is.
pub(super) fn reverse_labels(host: &[u8], out: &mut [u8]) {
    if host.first() == Some(&b'[') {
        out.copy_from_slice(host);
        return;
    }
    let mut at = 0;
    for (i, label) in host.rsplit(|&c| c == b'.').enumerate() {
        // By label, not by position: a trailing dot's empty label comes first.
        if i > 0 {
            out[at] = b'.';
            at += 1;
        }
        out[at..at + label.len()].copy_from_slice(label);
        at += label.len();
    }
}

/// A key as the table stores it: `scheme://` + the host part (`host` or
/// `*.suffix`) with its labels reversed + the rest (`:port`, `:*`). An
/// involution on the host part, so distinct keys stay distinct.
pub(super) fn table_form(key: &str) -> String {
    let Some((scheme, rest)) = key.split_once("://") else {
        return key.to_string();
    };
    let end = if rest.starts_with('[') {
        rest.len()
    } else {
        rest.find(':').unwrap_or(rest.len())
    };
    let (host, tail) = rest.split_at(end);
    let mut reversed = vec![0u8; host.len()];
    reverse_labels(host.as_bytes(), &mut reversed);
    let mut out = String::with_capacity(key.len());
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(&String::from_utf8_lossy(&reversed));
    out.push_str(tail);
    out
}
