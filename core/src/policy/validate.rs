//! The validator's machinery: the error list, lazily rendered JSON paths, and
//! the checks of JSON types every field shares.

use super::{Policy, PolicyError, PolicyErrors};
use crate::compiled::OriginTable;
use crate::json::Json;
use std::fmt;

impl Policy {
    pub(super) fn from_value(
        value: &Json,
        tables: Vec<(String, OriginTable)>,
    ) -> Result<Policy, PolicyErrors> {
        let mut v = Validator {
            errors: Vec::new(),
            tables,
        };
        let policy = v.policy(value);
        for (at, _) in std::mem::take(&mut v.tables) {
            v.error(
                at,
                "compiled policy: a table of origins for a list the policy does not have",
            );
        }
        // A defaults-level combination is checked once per route that
        // inherits it: report each distinct problem once.
        let mut seen = std::collections::BTreeSet::new();
        v.errors
            .retain(|e| seen.insert((e.path.clone(), e.message.clone())));
        match policy {
            Some(p) if v.errors.is_empty() => Ok(p),
            _ => Err(PolicyErrors(v.errors)),
        }
    }
}

pub(super) struct Validator {
    pub(super) errors: Vec<PolicyError>,
    /// A compiled policy's origin tables not yet attached, by JSON path.
    pub(super) tables: Vec<(String, OriginTable)>,
}

/// The JSON path of a value, rendered (`routes[1].cors.allow_origins[0]`) only
/// when a message needs it: a host without instance reuse validates the policy
/// on every request, and formatting every field's path cost a fifth of that.
#[derive(Clone, Copy, Default)]
pub(super) enum At<'a> {
    #[default]
    Root,
    Field(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

pub(super) static ROOT: At<'static> = At::Root;
pub(super) static ROUTES: At<'static> = At::Field(&ROOT, "routes");

impl<'a> At<'a> {
    pub(super) fn field(&'a self, name: &'a str) -> At<'a> {
        At::Field(self, name)
    }
    pub(super) fn index(&'a self, i: usize) -> At<'a> {
        At::Index(self, i)
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Field(At::Root, name) => f.write_str(name),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl Validator {
    pub(super) fn error(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.errors.push(PolicyError {
            path: path.to_string(),
            message: message.into(),
            line_col: None,
        });
    }

    /// Checks that `v` is an object with only known, distinct members.
    pub(super) fn object<'v, 'a>(
        &mut self,
        v: &'v Json<'a>,
        path: At,
        fields: &[&str],
    ) -> Option<&'v Json<'a>> {
        let Json::Object(members) = v else {
            self.error(path, format!("expected an object, found {}", v.type_name()));
            return None;
        };
        for (i, (key, _)) in members.iter().enumerate() {
            let key: &str = key;
            if !fields.contains(&key) {
                let hint = fields
                    .iter()
                    .find(|f| similar(f, key))
                    .map(|f| format!(" (did you mean \"{f}\"?)"))
                    .unwrap_or_default();
                self.error(
                    path.field(key),
                    format!(
                        "unknown field \"{key}\"{hint}; expected one of: {}",
                        fields.join(", ")
                    ),
                );
            } else if members[..i].iter().any(|(k, _)| k == key) {
                // Most JSON readers keep the last one silently: an edit that
                // appends a second `allow_origins` must not quietly win.
                self.error(
                    path.field(key),
                    format!("\"{key}\" is written more than once; keep one"),
                );
            }
        }
        Some(v)
    }

    pub(super) fn bool(&mut self, v: &Json, path: At) -> Option<bool> {
        match v {
            Json::Bool(b) => Some(*b),
            _ => {
                self.error(
                    path,
                    format!("expected true or false, found {}", v.type_name()),
                );
                None
            }
        }
    }

    pub(super) fn u32_in(&mut self, v: &Json, path: At, max: u32, min: u32) -> Option<u32> {
        match v.as_u64() {
            Some(n) if n >= u64::from(min) && n <= u64::from(max) => u32::try_from(n).ok(),
            _ => {
                self.error(
                    path,
                    format!("expected a whole number from {min} to {max}, found {v}"),
                );
                None
            }
        }
    }

    pub(super) fn str<'v>(&mut self, v: &'v Json, path: At) -> Option<&'v str> {
        match v {
            Json::Str(s) => Some(s),
            _ => {
                self.error(path, format!("expected a string, found {}", v.type_name()));
                None
            }
        }
    }

    /// The strings of an array with their indexes. Paths are formatted only
    /// for errors: a 10,000-entry list must not cost 10,000 `format!`s.
    pub(super) fn strings<'v>(&mut self, v: &'v Json, path: At) -> Vec<(&'v str, usize)> {
        let Json::Array(items) = v else {
            self.error(
                path,
                format!("expected an array of strings, found {}", v.type_name()),
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Json::Str(s) => out.push((&**s, i)),
                _ => {
                    self.str(item, path.index(i));
                }
            }
        }
        out
    }
}

/// One edit apart (a typo), for "did you mean" hints on unknown fields.
pub(super) fn similar(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    // Levenshtein distance <= 2, computed on two rows.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}
