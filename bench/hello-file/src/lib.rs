//! A second preflight floor: the SDK's hello-world (bench/hello-sdk) that
//! first reads `/policies/policy.json` with the host calls the gateway makes
//! for it in a fresh instance (preopens, open, stat, one read: see
//! src/policy_file.rs), and does nothing with it. The gateway cannot serve a
//! policy it has not read, and it re-reads the file in every fresh instance
//! (so that the next request sees an edit), so this is what the host charges any component that keeps
//! its policy in a file. Its ratio to hello-sdk is the part of the 0.9x
//! target no guest code can give back; the gateway's ratio to it is what the
//! gateway's own work costs. It answers 500 when it cannot read the file, so
//! a wrong setup shows as errors, not as a fast floor.

use spin_sdk::http::{IntoResponse, Request, Response};

/// The policy's length, or `None` when it cannot be read.
fn read_policy() -> Option<usize> {
    use wasi::filesystem::preopens::get_directories;
    use wasi::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let dirs = get_directories();
    let (dir, _) = dirs.iter().find(|(_, name)| name == "/policies")?;
    let file = dir
        .open_at(
            PathFlags::SYMLINK_FOLLOW,
            "policy.json",
            OpenFlags::empty(),
            DescriptorFlags::READ,
        )
        .ok()?;
    let size = file.stat().ok()?.size;
    let (bytes, _) = file.read(size + 1, 0).ok()?;
    Some(bytes.len())
}

#[cfg_attr(target_family = "wasm", spin_sdk::http_component)]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn handle_hello_world(_req: Request) -> anyhow::Result<impl IntoResponse> {
    let status = match read_policy() {
        Some(len) if len > 0 => 200,
        _ => 500,
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body("Hello World!")
        .build())
}
