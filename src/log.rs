//! Log lines on stderr. Writing never panics: `eprintln!` aborts the instance
//! when stderr fails (a closed pipe, a host without `-Scli`), and a request
//! must not die because its log line could not be written.

use std::fmt;
use std::io::Write;

/// The most bytes of one request value (an `Origin`, a path) in a log line.
pub const MAX_LOGGED_VALUE: usize = 256;

/// Writes one line; a failure to write is ignored.
pub fn line(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `log!("...", args)`: one line on stderr that never panics.
macro_rules! log {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}
pub(crate) use log;

/// A request value for a log line: Debug-escaped (so a hostile value cannot
/// forge lines) and cut at [`MAX_LOGGED_VALUE`] bytes, with the full length.
pub struct Value<'a>(pub &'a [u8]);

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(MAX_LOGGED_VALUE)];
        write!(f, "{:?}", String::from_utf8_lossy(shown))?;
        if shown.len() < self.0.len() {
            write!(f, "…({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}
