//! The policy document (version 1): its model, and the validator that turns JSON
//! into a compiled [`Policy`] or into every error it contains, each with the JSON
//! path of the offending value: the model (`model`), its errors, the
//! validator's machinery (`validate`), the document and its routes
//! (`document`), the `cors` levels and their merge (`cors`), and upstream URLs.

mod cors;
mod document;
mod error;
mod model;
#[cfg(test)]
mod tests;
mod upstream;
mod validate;

pub use cors::CORS_FIELDS;
pub use error::{PolicyError, PolicyErrors};
pub use model::*;
pub use upstream::parse_upstream;

use crate::compiled::OriginTable;
use crate::host::HostSet;
use crate::json::Json;
use std::sync::Arc;

/// A validated, compiled policy. Immutable; cheap to share.
#[derive(Debug, Clone)]
pub struct Policy {
    pub defaults: CorsConfig,
    /// Sorted by descending `path_prefix` length, so the first match is the longest.
    pub routes: Vec<Route>,
    /// The top-level `allowed_hosts` (for requests no route matches).
    pub allowed_hosts: Option<Arc<HostSet>>,
    pub debug: bool,
    /// For a policy loaded from its compiled form (see [`crate::compiled`]):
    /// the SHA-256 of the JSON it was compiled from.
    pub compiled_from: Option<[u8; 32]>,
}

impl Policy {
    /// Parses and validates a policy document completely.
    pub fn from_json(text: &str) -> Result<Policy, PolicyErrors> {
        Policy::from_value(&parse(text)?, Vec::new())
    }

    /// [`Policy::from_json`], also giving the tree it validated, so a tool that
    /// reads the document further (the CLI's lints and fixes) walks the same
    /// tree instead of parsing the text again.
    pub fn from_json_tree(text: &str) -> Result<(Policy, Json<'_>), PolicyErrors> {
        let tree = parse(text)?;
        let policy = Policy::from_value(&tree, Vec::new())?;
        Ok((policy, tree))
    }

    /// [`Policy::from_json`] for the JSON part of a compiled policy: `tables`
    /// hold the patterns of the `allow_origins` lists at the given JSON paths.
    pub(crate) fn from_json_with_tables(
        text: &str,
        tables: Vec<(String, OriginTable)>,
    ) -> Result<Policy, PolicyErrors> {
        let value = Json::parse(text).map_err(|e| {
            PolicyErrors::document(
                format!("compiled policy: its JSON part is not valid JSON: {e}"),
                None,
            )
        })?;
        Policy::from_value(&value, tables)
    }

    /// Longest-prefix route for a (normalised) request path. Prefixes match
    /// ignoring ASCII case, so an upstream that routes case-insensitively
    /// picks the same route.
    pub fn route_for(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| crate::path::has_prefix(path, &r.path_prefix))
    }
}

// Inlined: the component calls only `from_json`, and a call costs it bytes.
#[inline(always)]
fn parse(text: &str) -> Result<Json<'_>, PolicyErrors> {
    Json::parse(text).map_err(|e| {
        let at = (e.line() > 0).then(|| (e.line(), e.column()));
        PolicyErrors::document(format!("not valid JSON: {e}"), at)
    })
}
