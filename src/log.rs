//! Log lines on stderr. Writing never panics: `eprintln!` aborts the instance
//! when stderr fails (a closed pipe, a host without `-Scli`), and a request
//! must not die because its log line could not be written.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;

thread_local! {
    /// The id of the request this instance is serving (one at a time), for
    /// every log line and every response.
    static REQUEST_ID: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Sets the current request's id (see [`cors_gateway_core::request_id`]).
pub fn set_request_id(id: String) {
    REQUEST_ID.with(|r| *r.borrow_mut() = id);
}

/// The current request's id; empty before one is known.
pub fn request_id() -> String {
    REQUEST_ID.with(|r| r.borrow().clone())
}

/// The most bytes of one request value (an `Origin`, a path) in a log line.
pub const MAX_LOGGED_VALUE: usize = 256;

/// Writes one line; a failure to write is ignored.
pub fn line(args: fmt::Arguments<'_>) {
    REQUEST_ID.with(|r| {
        let id = r.borrow();
        let mut err = std::io::stderr().lock();
        let _ = if id.is_empty() {
            writeln!(err, "{args}")
        } else {
            // A safe token (checked or made), so it cannot forge a line.
            writeln!(err, "{args} request_id={id}")
        };
    });
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
