//! The validator's errors: each problem with the JSON path of the offending value.

use std::fmt;

/// One problem in a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// JSON path of the offending value, e.g. `routes[1].cors.allow_origins[0]`;
    /// empty for the document itself.
    pub path: String,
    pub message: String,
    /// Known for syntax errors; `check` locates the others from `path`.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a policy document (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    /// A problem with the document as a whole (no JSON path), alone: the
    /// text is not JSON, or a compiled policy is damaged.
    pub fn document(message: String, line_col: Option<(usize, usize)>) -> Self {
        PolicyErrors(vec![PolicyError {
            path: String::new(),
            message,
            line_col,
        }])
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
