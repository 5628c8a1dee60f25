//! Test infrastructure shared by the integration tests, the browser suite,
//! the load runs and the demo: a recording loopback upstream that can
//! misbehave on demand, an HTTP client with raw control, a launcher for the
//! component in the real `wasmtime serve`, and snapshot files for text output.

pub mod bidi;
pub mod client;
pub mod gateway;
pub mod page;
pub mod snapshot;
pub mod upstream;

pub use client::Response;
pub use gateway::{cli_bin, spin_features, wasm, wasm_embedding, wasmtime_bin, Gateway};
pub use upstream::{GarbageServer, Seen, Upstream};

/// Re-exported so tests drive concurrency with the same runtime.
pub use tokio;
