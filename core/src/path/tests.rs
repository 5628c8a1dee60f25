//! The path rules' tests: each normalised and each refused shape, and the
//! prefix match.

use super::*;

#[test]
fn normalises_what_upstreams_merge_and_decode() {
    assert_eq!(normalize("//orders/1"), "/orders/1");
    assert_eq!(normalize("/orders///1//"), "/orders/1/");
    assert_eq!(normalize("/%6frders/1"), "/orders/1");
    assert_eq!(normalize("/%4F%52ders/%7e%2D%5f"), "/ORders/~-_");
    assert!(matches!(normalize("/orders/1"), Cow::Borrowed(_)));
    // Escapes that are not unreserved stay as they are.
    assert_eq!(normalize("/a%20b/%2e%2E"), "/a%20b/%2e%2E");
    assert_eq!(normalize("/a//%2f"), "/a/%2f");
}

#[test]
fn refuses_every_shape_an_upstream_could_read_as_another_path() {
    let cases: [(&str, PathIssue); 24] = [
        ("orders/1", PathIssue::NotAbsolute),
        ("", PathIssue::NotAbsolute),
        ("//orders/1", PathIssue::EmptySegment),
        ("/legacy/../orders/1", PathIssue::DotSegment),
        ("/legacy/./orders", PathIssue::DotSegment),
        ("/legacy/..", PathIssue::DotSegment),
        ("/legacy/%2e%2e/orders", PathIssue::EncodedDot),
        ("/legacy/..;/orders/1", PathIssue::PathParameter),
        ("/legacy/.;/orders/1", PathIssue::PathParameter),
        ("/orders;x=1/1", PathIssue::PathParameter),
        ("/orders%3bx=1/1", PathIssue::PathParameter),
        ("/legacy\\..\\orders", PathIssue::Backslash),
        ("/legacy/%5c", PathIssue::Backslash),
        ("/legacy/..%2forders", PathIssue::EncodedSlash),
        ("/legacy/%252e%252e/orders", PathIssue::DoubleEncoding),
        ("/legacy/%zz", PathIssue::MalformedEscape),
        ("/legacy/%u002e", PathIssue::MalformedEscape),
        ("/legacy/%", PathIssue::MalformedEscape),
        ("/%6frders/1", PathIssue::EncodedUnreserved),
        ("/a%00b", PathIssue::ControlOrNonAscii),
        ("/a#b", PathIssue::Fragment),
        ("/legacy/%c0%ae%c0%ae/orders", PathIssue::InvalidUtf8),
        ("/legacy/%e0%80%ae", PathIssue::InvalidUtf8),
        ("/legacy/%ef%bc%8f", PathIssue::LookAlike),
    ];
    for (path, issue) in cases {
        assert_eq!(check(path, false), Err(issue), "{path}");
    }
    assert_eq!(check("/a\u{7f}", false), Err(PathIssue::ControlOrNonAscii));
    assert_eq!(
        check("/caf\u{e9}", false),
        Err(PathIssue::ControlOrNonAscii)
    );
}

#[test]
fn accepts_ordinary_paths() {
    for p in [
        "/",
        "/orders/1",
        "/orders/1/",
        "/a%20b",
        "/search/100%25",
        "/search/50%25off",
        "/caf%C3%A9",
        "/%E2%82%AC",
        "/a.json",
        "/.well-known/x",
        "/...",
        "/a..b",
        "/a:b@c!$&'()*+,=",
    ] {
        assert_eq!(check(p, false), Ok(()), "{p}");
    }
}

#[test]
fn encoded_slashes_only_where_allowed_and_never_around_dot_segments() {
    assert_eq!(
        check("/projects/group%2Fname", false),
        Err(PathIssue::EncodedSlash)
    );
    assert_eq!(check("/projects/group%2Fname", true), Ok(()));
    assert_eq!(check("/projects/group%2fname", true), Ok(()));
    assert_eq!(
        check("/projects/..%2F..%2Forders", true),
        Err(PathIssue::DotSegment)
    );
    assert_eq!(
        check("/projects/a%2F.%2Fb", true),
        Err(PathIssue::DotSegment)
    );
    assert_eq!(check("/projects/a%2F..", true), Err(PathIssue::DotSegment));
}

#[test]
fn normalize_then_check_is_a_fixed_point() {
    for p in ["//orders/1", "/%6frders//1", "/a%2e", "/x/%41/%2F"] {
        let n = normalize(p);
        assert_eq!(normalize(&n), n, "{p}");
    }
}

#[test]
fn prefixes_match_ignoring_ascii_case() {
    assert!(has_prefix("/ORDERS/1", "/orders/"));
    assert!(has_prefix("/orders/1", "/Orders/"));
    assert!(!has_prefix("/order", "/orders/"));
    assert!(!has_prefix("/ördérs", "/orders/"));
}
