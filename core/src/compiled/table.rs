//! The compiled policy's origin table: pattern keys sorted with their hosts
//! reversed, front- and back-coded in blocks, and searched in place in the
//! file's bytes.

use super::coding::{cmp_concat, get_entry, put_leb128, reverse_labels, table_form};
use crate::origin::{parent_domains, OriginMatch, OriginParts, MAX_HOST_LEN};
use std::sync::Arc;

/// Origin patterns as a sorted table of their
/// [`OriginPattern::table_key`](crate::origin::OriginPattern::table_key)s,
/// searched in place: what a compiled policy carries instead of a long JSON
/// list, so loading it costs no work per entry at all. Matching builds the
/// keys a request origin could match (its own origin,
/// `scheme://*.suffix[:port|:*]` for each parent domain, `scheme://host:*`)
/// and compares them piecewise, without allocating.
///
/// Keys are stored with their host's labels in reverse order
/// (`https://com.example.tenant:8443`, `https://com.example.*`; IPv6 literals
/// as they are), so that sorting groups the origins of one domain, and every
/// pattern a request host could match is a prefix of that host reversed.
/// They are front- and back-coded in blocks, because a fresh instance pays
/// for every byte of the table it reads (a page fault per 4 KiB, and the
/// checksum pass): sorted keys share long prefixes (`https://com.example.`)
/// and often suffixes, so 10,000 tenants of 200 domains take about a third
/// of the space of their keys, and sequential names (`app1234`) a tenth. A
/// block holds up to [`BLOCK`] keys; each key is three LEB128 numbers `p`,
/// `s`, `m` and `m`
/// bytes: the first `p` bytes of the previous key, the `m` bytes, then the
/// last `s` bytes of the previous key. A block's first key has `p = s = 0`
/// (it is stored whole, and compared where it lies); a search bisects the
/// blocks by their first keys, then decodes one block. A key longer than
/// [`MAX_KEY`] is a block of its own, so decoding needs only a fixed buffer.
///
/// The table lives in shared bytes (the compiled policy file itself):
/// `blocks` little-endian u32 start offsets at `starts_at` into the
/// `data_len` bytes at `data_at`. Offsets and lengths are bounds-checked where
/// they are read (a damaged block matches nothing, never reads elsewhere); an
/// entry that is not a canonical pattern can never equal a key built from a
/// canonical request origin.
///
/// Why not the `fst` crate's finite-state set, measured against this table
/// on the same keys in one run (`cargo bench -p cors-gateway-core --bench
/// origin_table`; 2-core VM, 9 in 10 exact origins, 1 in 10 `*.` patterns):
///
/// | patterns | keys | this table | fst | lookup: table | fst |
/// | --- | --- | --- | --- | --- | --- |
/// | 10,000 random names, 200 domains | 387 KB | 246 KB | 244 KB | 1.3 µs | 0.27 µs |
/// | 100,000 random names | 3.87 MB | 2.39 MB | 2.32 MB | 1.5 µs | 0.30 µs |
/// | 10,000 sequential (`app1234`) | 311 KB | 60 KB | 224 B | 1.6 µs | 0.24 µs |
/// | 100,000 sequential | 3.21 MB | 610 KB | 270 B | 1.8 µs | 0.40 µs |
///
/// fst looks up faster and, on names as regular as a counter, is far
/// smaller; on real (irregular) names the two are the same size, which is
/// what a fresh instance pays for. It is not used because this table's
/// loader promises that no byte string, even one with a correct checksum,
/// makes it panic (the `compiled_load` fuzz target holds it to that), and
/// `fst::Set::new` checks nothing: its documentation says an invalid
/// automaton "will probably panic". A microsecond per lookup does not buy
/// that back.
#[derive(Debug, Clone)]
pub struct OriginTable {
    bytes: Arc<Vec<u8>>,
    len: usize,
    starts_at: usize,
    blocks: usize,
    data_at: usize,
    data_len: usize,
}

/// Keys per block: a lookup decodes at most this many.
pub const BLOCK: usize = 16;
/// The longest key decoded through the fixed buffer (a host name has at most
/// 253 bytes; longer keys are blocks of their own).
pub const MAX_KEY: usize = 512;

impl OriginTable {
    /// Builds a table from keys ([`OriginPattern::table_key`] spellings;
    /// stored in [`table_form`], sorted and de-duplicated here).
    pub fn from_keys(keys: Vec<String>) -> OriginTable {
        let mut keys: Vec<String> = keys.iter().map(|k| table_form(k)).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut starts = Vec::new();
        let mut data = Vec::new();
        let mut prev: &[u8] = &[];
        let mut in_block = BLOCK;
        for key in &keys {
            let key = key.as_bytes();
            if in_block == BLOCK || key.len() > MAX_KEY || prev.len() > MAX_KEY {
                starts.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
                in_block = 0;
                prev = &[];
            }
            let p = key.iter().zip(prev).take_while(|(a, b)| a == b).count();
            let s = key[p..]
                .iter()
                .rev()
                .zip(prev[p..].iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            put_leb128(&mut data, p);
            put_leb128(&mut data, s);
            put_leb128(&mut data, key.len() - p - s);
            data.extend_from_slice(&key[p..key.len() - s]);
            prev = key;
            in_block += 1;
        }
        let mut bytes = Vec::with_capacity(starts.len() * 4 + data.len());
        for s in &starts {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        bytes.extend_from_slice(&data);
        OriginTable {
            bytes: bytes.into(),
            len: keys.len(),
            starts_at: 0,
            blocks: starts.len(),
            data_at: starts.len() * 4,
            data_len: data.len(),
        }
    }

    /// A table inside `bytes`, as [`OriginTable::from_keys`] lays it out:
    /// checks that both regions are inside `bytes` and that a table with
    /// entries has blocks (and one without, none). Nothing per entry or per
    /// block: see the type's docs.
    pub fn in_place(
        bytes: Arc<Vec<u8>>,
        len: usize,
        starts_at: usize,
        blocks: usize,
        data_at: usize,
        data_len: usize,
    ) -> Option<OriginTable> {
        let inside = |at: usize, n: usize| at.checked_add(n).is_some_and(|e| e <= bytes.len());
        if !inside(starts_at, blocks.checked_mul(4)?)
            || !inside(data_at, data_len)
            || (len == 0) != (blocks == 0)
            || blocks > len
        {
            return None;
        }
        Some(OriginTable {
            bytes,
            len,
            starts_at,
            blocks,
            data_at,
            data_len,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The table as the compiled form stores it: the block offsets, then the data.
    pub fn starts_and_data(&self) -> (&[u8], &[u8]) {
        (
            &self.bytes[self.starts_at..self.starts_at + self.blocks * 4],
            self.data(),
        )
    }

    fn data(&self) -> &[u8] {
        &self.bytes[self.data_at..self.data_at + self.data_len]
    }

    /// Block `k`'s bytes, or `None` if its offsets are out of order or bounds.
    fn block(&self, k: usize) -> Option<&[u8]> {
        let start = |k: usize| -> Option<usize> {
            let at = self.starts_at + k * 4;
            let b: &[u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_le_bytes(*b) as usize)
        };
        let from = start(k)?;
        let to = if k + 1 < self.blocks {
            start(k + 1)?
        } else {
            self.data_len
        };
        self.data().get(from..to)
    }

    /// Block `k`'s first key (stored whole).
    fn first_key(&self, k: usize) -> Option<&[u8]> {
        let block = self.block(k)?;
        match get_entry(block, &mut 0)? {
            (0, 0, key) => Some(key),
            _ => None,
        }
    }

    /// True when the concatenation of `parts` is an entry.
    fn contains(&self, parts: &[&[u8]]) -> bool {
        use std::cmp::Ordering;
        // The last block whose first key is <= the target.
        let (mut lo, mut hi) = (0, self.blocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(first) = self.first_key(mid) else {
                return false;
            };
            match cmp_concat(first, parts) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return true,
            }
        }
        let Some(block) = lo.checked_sub(1).and_then(|k| self.block(k)) else {
            return false;
        };
        // Its first key is below the target (the bisection's verdict): only
        // the keys after it can match.
        let mut at = 0;
        let Some((0, 0, first)) = get_entry(block, &mut at) else {
            return false;
        };
        if first.len() > MAX_KEY {
            return false;
        }
        let mut key = [0u8; MAX_KEY];
        key[..first.len()].copy_from_slice(first);
        let mut key_len = first.len();
        while at < block.len() {
            let Some((p, s, middle)) = get_entry(block, &mut at) else {
                return false;
            };
            if p.checked_add(s).is_none_or(|ps| ps > key_len) || p + s + middle.len() > MAX_KEY {
                return false;
            }
            // The previous key's last `s` bytes move after the new middle.
            key.copy_within(key_len - s..key_len, p + middle.len());
            key[p..p + middle.len()].copy_from_slice(middle);
            key_len = p + middle.len() + s;
            match cmp_concat(&key[..key_len], parts) {
                Ordering::Less => {}
                Ordering::Equal => return true,
                Ordering::Greater => return false,
            }
        }
        false
    }

    pub(crate) fn matches(&self, origin: &str, parts: &OriginParts<'_>) -> Option<OriginMatch> {
        let (scheme, host) = (parts.scheme.as_bytes(), parts.host.as_bytes());
        // A canonical origin is `scheme://host` and then its port spelling,
        // if any (`:8443`): what follows the host.
        let tail = origin
            .as_bytes()
            .get(scheme.len() + 3 + host.len()..)
            .filter(|_| {
                origin
                    .as_bytes()
                    .get(scheme.len() + 3..scheme.len() + 3 + host.len())
                    == Some(host)
            })?;
        // The host reversed, on the stack: a canonical host has at most
        // MAX_HOST_LEN bytes, so no request allocates here.
        let mut stack = [0u8; MAX_HOST_LEN];
        let reversed: &mut [u8] = stack.get_mut(..host.len())?;
        reverse_labels(host, reversed);
        let reversed: &[u8] = reversed;
        if self.contains(&[scheme, b"://", reversed, tail]) {
            return Some(OriginMatch::Exact);
        }
        // The request's own port spelling: canonical, so it is the text after
        // the host's last ':' (never inside an IPv6 literal's brackets).
        let port = parts
            .port
            .map(|_| origin.rsplit_once(':').map_or("", |(_, p)| p).as_bytes());
        if port.is_some() && self.contains(&[scheme, b"://", reversed, b":*"]) {
            return Some(OriginMatch::AnyPort);
        }
        // Each parent domain ("b.example.com", "example.com", "com" of
        // "a.b.example.com"), reversed, is a prefix of the reversed host
        // ("com.example.b", ...), and its pattern is that prefix + ".*".
        for parent in parent_domains(parts.host) {
            let suffix = &reversed[..parent.len()];
            let hit = match port {
                None => self.contains(&[scheme, b"://", suffix, b".*"]),
                Some(p) => {
                    self.contains(&[scheme, b"://", suffix, b".*:", p])
                        || self.contains(&[scheme, b"://", suffix, b".*:*"])
                }
            };
            if hit {
                return Some(OriginMatch::Subdomain);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The front-coded table finds exactly its keys, across blocks, with
    /// keys too long for the decoding buffer mixed in, and probes just
    /// before and after each key.
    #[test]
    fn table_finds_exactly_its_keys() {
        let mut keys: Vec<String> = (0..2000)
            .map(|i| match i % 4 {
                0 => format!("https://app{i}.example.com"),
                1 => format!("https://*.t{i}.example.net:8443"),
                2 => format!("http://h{}.test:*", i * 7919 % 1000),
                _ => format!("https://{}.example.org", "a".repeat(i % 300 + 1)),
            })
            .collect();
        keys.push(format!("https://{}.test", "b".repeat(700)));
        keys.push(format!("https://{}.test", "b".repeat(701)));
        keys.push(format!("https://{}c.test", "b".repeat(700)));
        let table = OriginTable::from_keys(keys.clone());
        let all: HashSet<&str> = keys.iter().map(String::as_str).collect();
        assert_eq!(table.len(), all.len());
        let (starts, data) = table.starts_and_data();
        let whole: usize = all.iter().map(|k| k.len() + 4).sum();
        assert!(
            data.len() + starts.len() < whole / 2,
            "{} of {whole}",
            data.len()
        );
        // Probes in the table's form (hosts reversed), which is one to one.
        let has = |k: &str| table.contains(&[table_form(k).as_bytes()]);
        for k in &keys {
            assert!(has(k), "{k}");
            let t = table_form(k);
            let (head, tail) = t.split_at(t.len() / 2);
            assert!(table.contains(&[head.as_bytes(), tail.as_bytes()]), "{k}");
            for probe in [
                format!("{k}x"),
                k[..k.len() - 1].to_string(),
                format!("{k}\0"),
            ] {
                assert_eq!(has(&probe), all.contains(&*probe), "{probe}");
            }
        }
        for probe in ["", "a", "https://", "zzzz", "https://app1.example.com"] {
            assert_eq!(has(probe), all.contains(probe), "{probe}");
        }
        assert_eq!(
            table_form("https://*.b.example.com:8443"),
            "https://com.example.b.*:8443"
        );
        assert_eq!(table_form("http://[::1]:*"), "http://[::1]:*");
        assert_eq!(table_form("https://example.com."), "https://.com.example");
        assert!(OriginTable::from_keys(Vec::new()).is_empty());
        assert!(!OriginTable::from_keys(Vec::new()).contains(&[b"x"]));
    }
}
