//! The compiled policy form: what `cors-gateway compile` writes so that a
//! host without instance reuse (a fresh instance per request) can load a
//! policy of thousands of origins without parsing, validating and hashing
//! every entry on every request: the file format ([`format`]) and the sorted,
//! front-coded origin table it carries, searched in place ([`table`]).

mod coding;
mod format;
mod table;

pub use format::{checksum, compile, is_compiled, json_part, load, MAGIC, VERSION};
pub use table::{OriginTable, BLOCK, MAX_KEY};
