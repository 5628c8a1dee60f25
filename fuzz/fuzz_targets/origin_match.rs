//! Origin parsing and matching on arbitrary input. Invariants: whatever a
//! pattern allows is a canonical origin (parse_origin accepts it), an exact
//! entry allows exactly itself, and the compiled policy's sorted table
//! (`OriginTable`) matches exactly what the hashed set matches.
#![no_main]

use cors_gateway_core::compiled::OriginTable;
use cors_gateway_core::origin::{parse_origin, parse_pattern, OriginPattern, OriginSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: a policy entry; the rest: the request's Origin.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (entry, origin) = text.split_once('\n').unwrap_or((text, ""));
    let parts = parse_origin(origin);
    let Ok(pattern) = parse_pattern(entry) else {
        return;
    };
    let set = OriginSet::from_patterns([pattern.clone()]);
    let matched = match (&parts, origin) {
        (_, "null") => set.matches(origin, None),
        (Some(p), _) => set.matches(origin, Some(p)),
        (None, _) => None,
    };
    let tabled = OriginSet::default().with_table(OriginTable::from_keys(
        pattern.table_key().into_iter().collect(),
    ));
    if let (Some(p), false) = (&parts, matches!(pattern, OriginPattern::Any)) {
        assert_eq!(
            matched,
            tabled.matches(origin, Some(p)),
            "{entry:?} / {origin:?}"
        );
    }
    if matched.is_some() && origin != "null" {
        assert!(parts.is_some(), "matched a non-canonical origin {origin:?}");
    }
    if let OriginPattern::Exact(e) = &pattern {
        // An exact entry is itself canonical and matches only itself.
        assert!(
            parse_origin(e).is_some(),
            "exact entry {e:?} is not canonical"
        );
        if let Some(p) = &parts {
            assert_eq!(set.matches(origin, Some(p)).is_some(), origin == e);
        }
    }
});
