//! The pre-commit hook (.pre-commit-hooks.yaml, scripts/pre-commit-check.sh)
//! as a policy repository runs it, through the real `pre-commit try-repo`: the
//! example policies pass (their warnings are shown), a repository with an
//! invalid policy fails with the error, and `--strict` fails on warnings.
//!
//! try-repo takes the hook from a clone of this repository's HEAD plus its
//! uncommitted changes to tracked files. The hook builds the CLI with cargo;
//! its target folder is kept under target/tmp so later runs only rebuild our
//! crates.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `command` in `dir` with the hook's cargo target folder and an isolated
/// pre-commit cache; (exit code, stdout + stderr).
fn run(command: &mut Command, dir: &Path, cache: &Path) -> (i32, String) {
    let out = command
        .current_dir(dir)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("pre-commit-hook"),
        )
        .env("PRE_COMMIT_HOME", cache)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "SETUP FAILED: cannot run {command:?} ({e}); scripts/setup.sh installs pre-commit"
            )
        });
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn try_repo(dir: &Path, cache: &Path) -> (i32, String) {
    run(
        Command::new("pre-commit")
            .arg("try-repo")
            .arg(root())
            .args([
                "cors-gateway-check",
                "--all-files",
                "--verbose",
                "--color",
                "never",
            ]),
        dir,
        cache,
    )
}

#[test]
fn the_hook_checks_policies_failing_on_errors_and_with_strict_on_warnings() {
    let cache = tempfile::tempdir().unwrap();

    // This repository: the example policies under policies/ are clean; the
    // schema and the deliberately broken test policies are not policy files
    // the hook looks at.
    let (code, out) = try_repo(&root(), cache.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("policies/policy.json: valid, 2 routes, 0 warnings"),
        "{out}"
    );
    assert!(out.contains("policies/demo.json: valid"), "{out}");
    assert!(!out.contains("policy.schema.json"), "{out}");
    assert!(!out.contains("tests/policies"), "{out}");

    // A policy repository with an invalid policy: the commit is refused.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join("policies")).unwrap();
    std::fs::copy(
        root().join("tests/policies/invalid.json"),
        repo.path().join("policies/edge.json"),
    )
    .unwrap();
    std::fs::copy(
        root().join("tests/policies/clean.json"),
        repo.path().join("policies/clean.json"),
    )
    .unwrap();
    for args in [&["init", "--quiet"][..], &["add", "policies"][..]] {
        let (code, out) = run(Command::new("git").args(args), repo.path(), cache.path());
        assert_eq!(code, 0, "git {args:?}: {out}");
    }
    let (code, out) = try_repo(repo.path(), cache.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("policies/edge.json: invalid, 10 errors"),
        "{out}"
    );
    assert!(out.contains("unknown field \"alow_origins\""), "{out}");
    assert!(
        out.contains("policies/clean.json: valid, 1 route, 0 warnings"),
        "{out}"
    );

    // --strict: warnings fail too; without it they pass.
    let script = root().join("scripts/pre-commit-check.sh");
    let (code, out) = run(
        Command::new(&script).args(["--strict", "tests/policies/example.json"]),
        &root(),
        cache.path(),
    );
    assert_eq!(code, 1, "{out}");
    let (code, out) = run(
        Command::new(&script).args(["tests/policies/example.json", "tests/policies/clean.json"]),
        &root(),
        cache.path(),
    );
    assert_eq!(code, 0, "{out}");
}
