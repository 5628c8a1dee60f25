//! The compiled policy file, [`compile`] and [`load`]: what `cors-gateway
//! compile` writes so that a host without instance reuse (a fresh instance
//! per request) can load a policy of thousands of origins without parsing,
//! validating and hashing every entry on every request.
//!
//! The CLI validates the JSON completely, then moves every pattern of every
//! `allow_origins` list into a sorted [`OriginTable`]; the rest of the policy
//! stays JSON (small, validated again at load like any policy). The tables are
//! not parsed at load: they are binary-searched in place in the file's bytes.
//! What load checks instead:
//! - a checksum of everything after the header (one fast pass over the bytes),
//!   so a damaged file (a copy cut short, flipped bits, a tool that rewrote
//!   line endings) is refused like an invalid policy (503), never half-used.
//!   It catches damage, not forgery: whoever can write the policy file can
//!   allow any origin anyway;
//! - in constant time per table: every length and offset region lies inside
//!   the file and nothing follows the last table; every offset and length
//!   inside a table is bounds-checked where the search reads it.
//!
//! Entries are not re-parsed: the compiler wrote canonical keys, and an entry
//! that is not one can never equal a key built from a canonical request
//! origin, so it could only fail to match.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! magic       8 bytes   "\xffCGWPOL\n": 0xff never occurs in UTF-8, so never a JSON text
//! version     u32       3 (1: whole keys; 2: front-coded, hosts not reversed)
//! source      32 bytes  SHA-256 of the JSON it was compiled from (health reports it)
//! checksum    u64       of every byte after this field (see `checksum`)
//! json        u32 length, then the policy JSON with the tabled patterns removed
//! tables      u32 count, then for each:
//!               u32 length, JSON path of its list ("routes[2].cors.allow_origins")
//!               u32 entries
//!               u32 blocks, then that many u32 start offsets into the data
//!               u32 length, then the front- and back-coded keys, in byte
//!               order (`OriginTable` describes the coding)
//! ```

use super::OriginTable;
use crate::json::Json;
use crate::origin::parse_pattern;
use crate::policy::{Policy, PolicyErrors};
use std::borrow::Cow;
use std::sync::Arc;

pub const MAGIC: &[u8; 8] = b"\xffCGWPOL\n";
pub const VERSION: u32 = 3;
/// Magic, version, source digest, checksum.
const HEADER_LEN: usize = 8 + 4 + 32 + 8;

/// A 64-bit checksum over four independent lanes (so it runs near memory
/// speed, even in Wasm): each 8-byte word goes through a bijective mix of its
/// lane, so changing any one word always changes the result, and other
/// changes escape with probability about 2^-64. Not a cryptographic hash.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |lane: u64, word: u64| (lane ^ word).wrapping_mul(K).rotate_left(29);
    let mut lanes: [u64; 4] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let blocks = bytes.chunks_exact(32);
    let mut last = [0u8; 32];
    last[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
    for block in blocks.chain(std::iter::once(&last[..])) {
        // Whole 8-byte words, so that no bounds check or call is left in the
        // loop (in Wasm at opt-level "s" a per-word `le_u64` call was 60% of
        // loading a 10,000-origin policy).
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            let word = <[u8; 8]>::try_from(word).unwrap_or_default();
            *lane = mix(*lane, u64::from_le_bytes(word));
        }
    }
    lanes
        .iter()
        .fold(bytes.len() as u64, |h, &lane| mix(h, lane))
}

/// The first 8 bytes of `b` (callers guarantee there are 8), little-endian.
fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// True when `bytes` claim to be a compiled policy (not JSON).
pub fn is_compiled(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn error(message: String) -> PolicyErrors {
    PolicyErrors::document(format!("compiled policy: {message}"), None)
}

/// Compiles a policy: validates `json` completely (the same errors as loading
/// it), then writes the compiled form. `source_sha256` is the SHA-256 of
/// `json`'s bytes (the caller hashes; this crate does no cryptography).
pub fn compile(json: &str, source_sha256: [u8; 32]) -> Result<Vec<u8>, PolicyErrors> {
    let (_, mut doc) = Policy::from_json_tree(json)?;
    let mut tables = Vec::new();
    if let Some(cors) = doc.get_mut("cors") {
        take_patterns(cors, "cors.allow_origins", &mut tables);
    }
    if let Some(Json::Array(routes)) = doc.get_mut("routes") {
        for (i, route) in routes.iter_mut().enumerate() {
            if let Some(cors) = route.get_mut("cors") {
                take_patterns(
                    cors,
                    &format!("routes[{i}].cors.allow_origins"),
                    &mut tables,
                );
            }
        }
    }
    let reduced = serde_json::to_vec(&doc).map_err(|e| error(e.to_string()))?;

    let mut out = Vec::with_capacity(HEADER_LEN + reduced.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&source_sha256);
    out.extend_from_slice(&[0; 8]); // the checksum, once the rest is written
    put_bytes(&mut out, &reduced)?;
    put_len(&mut out, tables.len())?;
    for (path, table) in &tables {
        put_bytes(&mut out, path.as_bytes())?;
        put_len(&mut out, table.len())?;
        let (starts, data) = table.starts_and_data();
        put_len(&mut out, starts.len() / 4)?;
        out.extend_from_slice(starts);
        put_bytes(&mut out, data)?;
    }
    let sum = checksum(&out[HEADER_LEN..]);
    out[HEADER_LEN - 8..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

fn put_len(out: &mut Vec<u8>, n: usize) -> Result<(), PolicyErrors> {
    let n = u32::try_from(n).map_err(|_| error("larger than 4 GiB".into()))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), PolicyErrors> {
    put_len(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

/// Moves the patterns of `cors.allow_origins` into a table, leaving `*` and
/// `null` (flags, not entries) in the JSON.
fn take_patterns(cors: &mut Json<'_>, path: &str, tables: &mut Vec<(String, OriginTable)>) {
    let Some(Json::Array(items)) = cors.get_mut("allow_origins") else {
        return;
    };
    let mut keys = Vec::new();
    let mut kept = Vec::new();
    for item in items.drain(..) {
        let key = item
            .as_str()
            .and_then(|s| parse_pattern(s).ok())
            .and_then(|p| p.table_key());
        match key {
            Some(k) => keys.push(k),
            None => kept.push(item),
        }
    }
    *items = kept;
    if !keys.is_empty() {
        tables.push((path.to_string(), OriginTable::from_keys(keys)));
    }
}

/// Reads the parts of a compiled policy, bounds-checking every length.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'b [u8], PolicyErrors> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(error(format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.at,
                self.bytes.len()
            )));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, PolicyErrors> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len_prefixed(&mut self, what: &str) -> Result<&'b [u8], PolicyErrors> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }
}

/// Loads a compiled policy: checks its checksum and structure, validates its
/// JSON part and attaches its tables, which stay in `bytes` (shared, not copied).
pub fn load(bytes: impl Into<Arc<Vec<u8>>>) -> Result<Policy, PolicyErrors> {
    let bytes: Arc<Vec<u8>> = bytes.into();
    let mut r = Reader {
        bytes: &bytes,
        at: 0,
    };
    if r.take(MAGIC.len(), "the magic number")? != MAGIC {
        return Err(error("not a compiled policy (wrong magic number)".into()));
    }
    let version = r.u32("the version")?;
    if version != VERSION {
        return Err(error(format!(
            "format version {version}; this gateway reads version {VERSION}: compile the policy with the matching cors-gateway"
        )));
    }
    let mut source = [0u8; 32];
    source.copy_from_slice(r.take(32, "the source SHA-256")?);
    let sum = r.take(8, "the checksum")?;
    if le_u64(sum) != checksum(&bytes[HEADER_LEN..]) {
        return Err(error(
            "damaged (checksum mismatch): cut short or changed since cors-gateway compile wrote it; compile it again".into(),
        ));
    }
    let json = std::str::from_utf8(r.len_prefixed("the JSON part")?)
        .map_err(|e| error(format!("the JSON part is not UTF-8: {e}")))?;
    let count = r.u32("the table count")?;
    let mut tables: Vec<(String, OriginTable)> = Vec::new();
    for t in 0..count {
        let path = std::str::from_utf8(r.len_prefixed("a table's path")?)
            .map_err(|_| error(format!("table {t}: its path is not UTF-8")))?;
        if tables.iter().any(|(p, _)| p == path) {
            return Err(error(format!("two tables for {path}")));
        }
        let n = r.u32("a table's size")? as usize;
        let blocks = r.u32("a table's block count")? as usize;
        let starts_at = r.at;
        r.take(blocks.saturating_mul(4), "a table's offsets")?;
        let data_len = r.u32("a table's data size")? as usize;
        let data_at = r.at;
        r.take(data_len, "a table's entries")?;
        let table =
            OriginTable::in_place(Arc::clone(&bytes), n, starts_at, blocks, data_at, data_len)
                .ok_or_else(|| {
                    error(format!(
                        "table for {path}: its blocks do not fit its entries"
                    ))
                })?;
        tables.push((path.to_string(), table));
    }
    if r.at != bytes.len() {
        return Err(error(format!(
            "{} unexpected bytes after the last table",
            bytes.len() - r.at
        )));
    }
    let mut policy = Policy::from_json_with_tables(json, tables)?;
    policy.compiled_from = Some(source);
    Ok(policy)
}

/// The JSON part of a compiled policy, for tools that show it.
pub fn json_part(bytes: &[u8]) -> Option<Cow<'_, str>> {
    let mut r = Reader {
        bytes,
        at: HEADER_LEN,
    };
    r.len_prefixed("the JSON part")
        .ok()
        .map(String::from_utf8_lossy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{decide, RequestView};

    const POLICY: &str = r#"{"version":1,
        "cors":{"allow_origins":["https://app.example.com","https://*.tenant.example.net","http://localhost:*","null"],
                "allow_credentials":true},
        "routes":[{"name":"a","path_prefix":"/a/","upstream":"http://127.0.0.1:1"},
                  {"name":"p","path_prefix":"/p/","upstream":"http://127.0.0.1:1",
                   "cors":{"allow_origins":["*","https://x.test"],"allow_credentials":false}}]}"#;

    fn allowed(p: &Policy, path: &str, origin: &str) -> bool {
        let headers = [("origin".to_string(), origin.as_bytes().to_vec())];
        let mut scratch = Vec::new();
        let view = RequestView::from_headers("GET", path, &headers, &mut scratch);
        decide(p, &view).grant.is_some()
    }

    #[test]
    fn compiled_policy_decides_like_its_json() {
        let json = Policy::from_json(POLICY).unwrap();
        let bin = compile(POLICY, [7; 32]).unwrap();
        assert!(is_compiled(&bin));
        let compiled = load(bin.clone()).unwrap();
        assert_eq!(compiled.compiled_from, Some([7; 32]));
        assert_eq!(json.routes.len(), compiled.routes.len());
        for origin in [
            "https://app.example.com",
            "https://a.tenant.example.net",
            "https://a.b.tenant.example.net",
            "https://tenant.example.net",
            "http://a.tenant.example.net",
            "https://a.tenant.example.net:8443",
            "http://localhost:3000",
            "http://localhost",
            "https://localhost:3000",
            "null",
            "https://x.test",
            "https://evil.test",
            "https://app.example.com.evil.test",
        ] {
            for path in ["/a/x", "/p/x", "/none"] {
                assert_eq!(
                    allowed(&json, path, origin),
                    allowed(&compiled, path, origin),
                    "{origin} on {path}"
                );
            }
        }
    }

    #[test]
    fn only_patterns_leave_the_json() {
        let bin = compile(POLICY, [0; 32]).unwrap();
        let part = json_part(&bin).unwrap();
        assert!(part.contains(r#""allow_origins":["null"]"#), "{part}");
        assert!(part.contains(r#""allow_origins":["*"]"#), "{part}");
        assert!(!part.contains("app.example.com"), "{part}");
    }

    #[test]
    fn an_invalid_policy_does_not_compile() {
        let e = compile(
            r#"{"version":1,"cors":{"allow_origins":["https://A.test"]},"routes":[]}"#,
            [0; 32],
        )
        .unwrap_err();
        assert_eq!(e.0[0].path, "cors.allow_origins[0]");
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let bin = compile(POLICY, [0; 32]).unwrap();
        for n in 0..bin.len() {
            assert!(load(bin[..n].to_vec()).is_err(), "truncated to {n} bytes");
        }
        let mut longer = bin.clone();
        longer.push(0);
        assert!(load(longer).is_err());
    }

    #[test]
    fn damaged_tables_are_refused_and_nothing_panics() {
        let bin = compile(POLICY, [0; 32]).unwrap();
        // Flip every bit in turn: refused (the source digest aside, which
        // only labels the policy), never a panic.
        for i in 0..bin.len() {
            for bit in 0..8 {
                let mut b = bin.clone();
                b[i] ^= 1 << bit;
                let r = load(b);
                assert!(r.is_err() || (12..44).contains(&i), "flip at {i} accepted");
            }
        }
        let needle = b"http://localhost:*";
        let a = bin.windows(needle.len()).position(|w| w == needle).unwrap();
        let mut b = bin.clone();
        b[a..a + 4].copy_from_slice(b"zttp");
        let e = load(b).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
        let mut v = bin.clone();
        v[8] = 1;
        assert!(load(v).unwrap_err().to_string().contains("version 1"));
    }
}
