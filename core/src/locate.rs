//! Finds where a JSON path (`routes[1].cors.allow_origins[0]`) points in the
//! source text, so every message `check` prints has a line and column.

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Option<Vec<Seg<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Seg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// End of the string starting at `i` (on its opening quote).
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// End of the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            Some(j)
        }
    }
}

fn find(b: &[u8], text: &str, segs: &[Seg<'_>]) -> Option<usize> {
    let mut pos = skip_ws(b, 0);
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if b.get(pos) != Some(&b'{') {
                    return None;
                }
                pos = skip_ws(b, pos + 1);
                loop {
                    if b.get(pos) != Some(&b'"') {
                        return None;
                    }
                    let end = skip_string(b, pos)?;
                    let key: String = serde_json::from_str(&text[pos..end]).ok()?;
                    let colon = skip_ws(b, end);
                    let value = skip_ws(b, colon + 1);
                    if key == *k {
                        pos = value;
                        break;
                    }
                    pos = skip_ws(b, skip_value(b, value)?);
                    if b.get(pos) != Some(&b',') {
                        return None;
                    }
                    pos = skip_ws(b, pos + 1);
                }
            }
            Seg::Index(n) => {
                if b.get(pos) != Some(&b'[') {
                    return None;
                }
                pos = skip_ws(b, pos + 1);
                for _ in 0..*n {
                    pos = skip_ws(b, skip_value(b, pos)?);
                    if b.get(pos) != Some(&b',') {
                        return None;
                    }
                    pos = skip_ws(b, pos + 1);
                }
                if matches!(b.get(pos), None | Some(b']')) {
                    return None;
                }
            }
        }
    }
    Some(pos)
}

/// 1-based line and column of the value at `path` in `text`; for a path that
/// does not exist (a missing field), the nearest enclosing value's position.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let segs = segments(path)?;
    let b = text.as_bytes();
    let pos = (0..=segs.len())
        .rev()
        .find_map(|n| find(b, text, &segs[..n]))?;
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, col))
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn finds_nested_values() {
        let text = "{\n  \"cors\": {\"allow_origins\": [\"a\", \"b\"]},\n  \"routes\": [\n    {\"name\": \"x\"},\n    {\"name\": \"y\", \"cors\": {}}\n  ]\n}";
        assert_eq!(locate(text, "cors.allow_origins[1]"), Some((2, 35)));
        assert_eq!(locate(text, "routes[1].name"), Some((5, 14)));
        // Missing field: the enclosing object.
        assert_eq!(locate(text, "routes[1].cors.max_age_secs"), Some((5, 27)));
        assert_eq!(locate(text, ""), Some((1, 1)));
    }
}
