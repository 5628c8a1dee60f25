//! Snapshot files for tests of text output (the CLI's, `cors-gateway
//! report`'s): what a test produced is compared with a file kept in the
//! repository, and `UPDATE_SNAPSHOTS=1` rewrites the files instead, so an
//! intended change is reviewed as a diff.

use crate::gateway::workspace_root;

/// Compares `actual` with `DIR/NAME.txt` (`dir` relative to the workspace
/// root); with `UPDATE_SNAPSHOTS` set, writes it there instead. `rerun` is the
/// test command that regenerates them, named when the snapshot is missing.
#[track_caller]
pub fn compare(dir: &str, name: &str, actual: &str, rerun: &str) {
    let path = workspace_root().join(dir).join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a snapshot directory"))
            .expect("create the snapshot directory");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let Ok(expected) = std::fs::read_to_string(&path) else {
        panic!(
            "missing snapshot {}: run UPDATE_SNAPSHOTS=1 {rerun}",
            path.display()
        )
    };
    assert_eq!(
        actual, expected,
        "output of {name} changed (UPDATE_SNAPSHOTS=1 to accept)"
    );
}
