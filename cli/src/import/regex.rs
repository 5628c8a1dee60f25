//! Origin regexes (nginx `map $http_origin`, Apache `SetEnvIf Origin`, `cors`
//! RegExps) to policy origin patterns: converted only when the regex is an
//! anchored alternation that the patterns express exactly; anything else is
//! an error that says why, never a guess.

use cors_gateway_core::origin::parse_pattern;

/// What a regex allows.
#[derive(Debug, PartialEq, Eq)]
pub enum Conv {
    /// Matches every origin (`.*`): the source reflected any origin.
    Any,
    /// Exactly these policy entries.
    Origins(Vec<String>),
}

#[derive(Debug, Clone)]
enum Node {
    Lit(char),
    Alt(Vec<Vec<Node>>),
    Opt(Box<Node>),
    /// One or more host labels and their dot: the policy's `*.`.
    Sub,
    /// `:` and any port number: the policy's `:*`.
    Port,
}

const SUB: char = '\u{1}';
const PORT: char = '\u{2}';
const MAX_EXPANSIONS: usize = 256;

/// Sub-expressions with a pattern equivalent, for canonical origins (which
/// cannot contain `/`, `@` or `:` in the host).
/// A sub-expression's text and the node it stands for.
type Special = (&'static str, fn() -> Node);

const SPECIAL: [Special; 22] = [
    ("([a-z0-9-]+\\.)+", || Node::Sub),
    ("([a-z0-9-]+\\.)*", || Node::Opt(Box::new(Node::Sub))),
    ("(?:[a-z0-9-]+\\.)+", || Node::Sub),
    ("(?:[a-z0-9-]+\\.)*", || Node::Opt(Box::new(Node::Sub))),
    ("([a-zA-Z0-9-]+\\.)+", || Node::Sub),
    ("([a-zA-Z0-9-]+\\.)*", || Node::Opt(Box::new(Node::Sub))),
    ("([^.]+\\.)+", || Node::Sub),
    ("([^.]+\\.)*", || Node::Opt(Box::new(Node::Sub))),
    ("(.+\\.)", || Node::Sub),
    ("(.*\\.)", || Node::Sub),
    ("(?:.+\\.)", || Node::Sub),
    ("(?:.*\\.)", || Node::Sub),
    (".+\\.", || Node::Sub),
    (".*\\.", || Node::Sub),
    ("(:\\d+)?", || Node::Opt(Box::new(Node::Port))),
    ("(:[0-9]+)?", || Node::Opt(Box::new(Node::Port))),
    ("(?::\\d+)?", || Node::Opt(Box::new(Node::Port))),
    ("(?::[0-9]+)?", || Node::Opt(Box::new(Node::Port))),
    (":\\d+", || Node::Port),
    (":[0-9]+", || Node::Port),
    (":\\d{1,5}", || Node::Port),
    (":[0-9]{1,5}", || Node::Port),
];

const MATCH_ALL: [&str; 10] = [
    ".*", "^.*$", "^(.*)$", "(.*)", ".+", "^.+$", "^(.+)$", "(.+)", "^(.*)", "^(.+)",
];

/// Converts `re` (PCRE syntax, matched against the whole `Origin` value).
pub fn to_origins(re: &str) -> Result<Conv, String> {
    if re.is_empty() || MATCH_ALL.contains(&re) {
        return Ok(Conv::Any);
    }
    let anchored_start = re.starts_with('^');
    let anchored_end = re.ends_with('$') && !re.ends_with("\\$");
    if !anchored_start || !anchored_end {
        let what = match (anchored_start, anchored_end) {
            (false, false) => "at either end",
            (false, true) => "at the start (no ^): it also matches origins with anything in front",
            _ => "at the end (no $): it also matches origins that merely start like an allowed one, e.g. one followed by .evil.example",
        };
        return Err(format!("the regex is not anchored {what}"));
    }
    let body = &re[1..re.len() - 1];
    convert(body, false).map(Conv::Origins)
}

/// The origins `re` would list if its unescaped dots were meant literally,
/// for a finding's suggestion.
pub fn literal_dot_reading(re: &str) -> Option<Vec<String>> {
    let body = re.trim_start_matches('^').trim_end_matches('$');
    convert(body, true).ok()
}

fn convert(body: &str, dots_literal: bool) -> Result<Vec<String>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut pos = 0;
    let seq = parse_seq(&chars, &mut pos, dots_literal)?;
    if pos != chars.len() {
        return Err(format!("unbalanced \")\" at offset {pos}"));
    }
    let mut out = Vec::new();
    for s in expand(&seq)? {
        out.push(to_pattern(&s)?);
    }
    out.dedup();
    Ok(out)
}

fn parse_seq(c: &[char], pos: &mut usize, dots_literal: bool) -> Result<Vec<Node>, String> {
    let mut seq: Vec<Node> = Vec::new();
    while *pos < c.len() {
        let rest: String = c[*pos..].iter().collect();
        if let Some((text, make)) = SPECIAL.iter().find(|(t, _)| rest.starts_with(t)) {
            seq.push(make());
            *pos += text.chars().count();
            continue;
        }
        let ch = c[*pos];
        match ch {
            ')' | '|' => break,
            '(' => {
                *pos += 1;
                if c[*pos..].starts_with(&['?', ':']) {
                    *pos += 2;
                } else if c.get(*pos) == Some(&'?') {
                    return Err("a group with (?...) other than (?:...) is not expressible".into());
                }
                let mut alts = vec![parse_seq(c, pos, dots_literal)?];
                while c.get(*pos) == Some(&'|') {
                    *pos += 1;
                    alts.push(parse_seq(c, pos, dots_literal)?);
                }
                if c.get(*pos) != Some(&')') {
                    return Err("unbalanced \"(\"".into());
                }
                *pos += 1;
                seq.push(Node::Alt(alts));
            }
            '?' => {
                let prev = seq.pop().ok_or("\"?\" with nothing before it")?;
                seq.push(Node::Opt(Box::new(prev)));
                *pos += 1;
            }
            '\\' => {
                let next = c.get(*pos + 1).copied().ok_or("a trailing backslash")?;
                if !matches!(next, '.' | '-' | '/' | ':' | '[' | ']' | '(' | ')' | '?' | '*' | '+') {
                    return Err(format!("\"\\{next}\" is a character class, not expressible exactly as origins"));
                }
                seq.push(Node::Lit(next));
                *pos += 2;
            }
            '.' if dots_literal => {
                seq.push(Node::Lit('.'));
                *pos += 1;
            }
            '.' => {
                return Err("an unescaped \".\" matches any character (so \"example.com\" also matches \"exampleXcom\"); write \"\\.\"".into())
            }
            '*' | '+' | '{' | '[' | '^' | '$' => {
                return Err(format!("\"{ch}\" at offset {} (a repetition, class or inner anchor) is not expressible exactly as origins; only alternations of hosts, \"(.+\\.)?\" for subdomains and \"(:\\d+)?\" for ports are", *pos))
            }
            _ => {
                seq.push(Node::Lit(ch));
                *pos += 1;
            }
        }
    }
    Ok(seq)
}

fn expand(seq: &[Node]) -> Result<Vec<String>, String> {
    let mut acc = vec![String::new()];
    for n in seq {
        let options: Vec<String> = match n {
            Node::Lit(ch) => vec![ch.to_string()],
            Node::Sub => vec![SUB.to_string()],
            Node::Port => vec![PORT.to_string()],
            Node::Opt(inner) => {
                let mut v = vec![String::new()];
                v.extend(expand(std::slice::from_ref(inner))?);
                v
            }
            Node::Alt(alts) => {
                let mut v = Vec::new();
                for a in alts {
                    v.extend(expand(a)?);
                }
                v
            }
        };
        let mut next = Vec::with_capacity(acc.len() * options.len());
        for a in &acc {
            for o in &options {
                next.push(format!("{a}{o}"));
            }
        }
        if next.len() > MAX_EXPANSIONS {
            return Err(format!(
                "the regex allows more than {MAX_EXPANSIONS} distinct origins; list them"
            ));
        }
        acc = next;
    }
    Ok(acc)
}

fn to_pattern(s: &str) -> Result<String, String> {
    let shown = || s.replace(SUB, "<subdomains>").replace(PORT, "<port>");
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(format!("\"{}\" has no scheme://", shown()));
    };
    let (host, tail) = match rest.strip_prefix(SUB) {
        Some(h) => (format!("*.{h}"), h),
        None => (rest.to_string(), rest),
    };
    if tail.contains(SUB) {
        return Err(format!(
            "\"{}\": a subdomain wildcard is only expressible as the first label",
            shown()
        ));
    }
    let host = match host.strip_suffix(PORT) {
        Some(h) => format!("{h}:*"),
        None => host,
    };
    if host.contains(PORT) {
        return Err(format!(
            "\"{}\": an any-port part is only expressible at the end",
            shown()
        ));
    }
    let entry = format!("{scheme}://{host}");
    match parse_pattern(&entry) {
        Ok(_) => Ok(entry),
        Err(e) => Err(format!("\"{entry}\" is not an origin pattern: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(re: &str) -> Vec<String> {
        match to_origins(re) {
            Ok(Conv::Origins(v)) => v,
            other => panic!("{re}: {other:?}"),
        }
    }

    #[test]
    fn anchored_alternations_convert() {
        assert_eq!(
            ok(r"^https://(www\.)?example\.com$"),
            ["https://example.com", "https://www.example.com"]
        );
        assert_eq!(
            ok(r"^https?://(app|admin)\.example\.org$"),
            [
                "http://app.example.org",
                "http://admin.example.org",
                "https://app.example.org",
                "https://admin.example.org"
            ]
        );
        assert_eq!(
            ok(r"^https://(.+\.)?example\.com$"),
            ["https://example.com", "https://*.example.com"]
        );
        assert_eq!(
            ok(r"^http://localhost(:\d+)?$"),
            ["http://localhost", "http://localhost:*"]
        );
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        for (re, why) in [
            (r"https://example\.com$", "anchored at the start"),
            (r"^https://example\.com", "anchored at the end"),
            (r"^https://example.com$", "unescaped"),
            (r"^https://[a-z]+\.example\.com$", "not expressible"),
            (r"^https://([a-z0-9-]+\.)?example\.com$", "not expressible"),
            (r"^https://\w+\.example\.com$", "character class"),
            (r"^https://example\.(.+\.)com$", "first label"),
        ] {
            let e = to_origins(re).expect_err(re);
            assert!(e.contains(why), "{re}: {e}");
        }
        assert_eq!(to_origins("^(.*)$"), Ok(Conv::Any));
        assert_eq!(
            literal_dot_reading("^https://example.com$"),
            Some(vec!["https://example.com".to_string()])
        );
    }
}
