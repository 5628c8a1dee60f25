//! Helpers the CLI's test files share: the repository root, running the
//! built binary, and snapshot files under cli/tests/snapshots.

#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the built binary from the repository root; (exit code, stdout).
pub fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cors-gateway"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run cors-gateway");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Compares `actual` with the snapshot `name` in cli/tests/snapshots;
/// `UPDATE_SNAPSHOTS=1` rewrites it.
#[track_caller]
pub fn snapshot(name: &str, actual: &str) {
    testkit::snapshot::compare(
        "cli/tests/snapshots",
        name,
        actual,
        "cargo test -p cors-gateway-cli",
    );
}
