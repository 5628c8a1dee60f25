//! Log lines on stderr, and the state one request carries for them. Writing
//! never panics: `eprintln!` aborts the instance when stderr fails (a closed
//! pipe, a host without `-Scli`), and a request must not die because its log
//! line could not be written.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write;

/// What the JSON request line reports of the current request, filled in as
/// the request is served.
#[derive(Default)]
pub struct Record {
    pub method: String,
    pub path: String,
    pub route: Option<String>,
    pub kind: Option<&'static str>,
    pub origin: Option<String>,
    pub decision: Option<&'static str>,
    pub failure: Option<&'static str>,
    /// The requested method or header that failed the check.
    pub failure_detail: Option<String>,
    pub mode: Option<&'static str>,
    pub policy_sha256: Option<String>,
    pub bytes_in: Option<u64>,
    /// The candidate policy's decision, where one is configured.
    pub candidate: Option<serde_json::Value>,
    /// The policy sources consulted and their cost (see `source::Consulted`).
    pub sources: Option<serde_json::Value>,
}

/// One request's state for its log lines and its answer: its id, its JSON
/// record, the statuses seen, and (Spin build) the policy sources consulted.
/// `handle_request` owns it and lends it to everything that logs or answers;
/// not a thread-local, so requests that one instance serves at once (WASI 0.3)
/// cannot mix theirs. Shared (`&Req`) with interior mutability: the
/// forwarding loop reaches it inside `&self` methods.
pub struct Req {
    /// A safe token (checked or made: see `cors_gateway_core::request_id`).
    id: String,
    record: RefCell<Option<Record>>,
    status: Cell<Option<u16>>,
    upstream: Cell<Option<(u16, Option<u64>)>>,
    upstream_ms: Cell<Option<u64>>,
    /// `Some` while this request records its sources (see `source::timer`).
    #[cfg(feature = "spin")]
    pub(crate) consulted: RefCell<Option<Vec<crate::source::Consulted>>>,
}

impl Req {
    /// Starts a request's state; `record` is kept in JSON mode only (it costs
    /// nothing otherwise).
    pub fn new(id: String, record: Record) -> Req {
        Req {
            id,
            record: RefCell::new(json().then_some(record)),
            status: Cell::new(None),
            upstream: Cell::new(None),
            upstream_ms: Cell::new(None),
            #[cfg(feature = "spin")]
            consulted: RefCell::new(None),
        }
    }

    /// The request's id, for every log line and every response.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long forwarding took, from sending the request to the response's end.
    pub fn note_upstream_ms(&self, ms: u64) {
        self.upstream_ms.set(Some(ms));
    }

    /// Updates the request's record, if one is kept.
    pub fn with_record(&self, f: impl FnOnce(&mut Record)) {
        if let Some(rec) = self.record.borrow_mut().as_mut() {
            f(rec);
        }
    }

    /// The status sent to the client.
    pub fn note_status(&self, status: u16) {
        self.status.set(Some(status));
    }

    /// The upstream's status and the length of its body, where it says.
    pub fn note_upstream(&self, status: u16, content_length: Option<u64>) {
        self.status.set(Some(status));
        self.upstream.set(Some((status, content_length)));
    }

    /// Writes the request's JSON line (event `request`), once.
    pub fn finish(&self) {
        let Some(rec) = self.record.borrow_mut().take() else {
            return;
        };
        let upstream = self.upstream.get();
        let mut obj = serde_json::json!({
            "event": "request",
            "method": rec.method,
            "path": rec.path,
            "route": rec.route,
            "kind": rec.kind,
            "origin": rec.origin,
            "decision": rec.decision,
            "failure": rec.failure,
            "failure_detail": rec.failure_detail,
            "status": self.status.get(),
            "upstream_status": upstream.map(|u| u.0),
            "upstream_ms": upstream.and(self.upstream_ms.get()),
            "bytes_in": rec.bytes_in,
            "bytes_out": upstream.and_then(|u| u.1),
            "policy_sha256": rec.policy_sha256,
            "mode": rec.mode,
        });
        if let (Some(c), Some(map)) = (rec.candidate, obj.as_object_mut()) {
            map.insert("candidate".into(), c);
        }
        if let (Some(c), Some(map)) = (rec.sources, obj.as_object_mut()) {
            map.insert("sources".into(), c);
        }
        write_json(obj, &self.id);
    }
}

/// Whether lines are JSON (`CORS_GATEWAY_LOG=json`, read once per instance).
pub fn json() -> bool {
    crate::source::env().json_log
}

/// A request value for a JSON field: lossy UTF-8, cut at [`MAX_LOGGED_VALUE`].
pub fn field(v: &[u8]) -> String {
    let shown = &v[..v.len().min(MAX_LOGGED_VALUE)];
    String::from_utf8_lossy(shown).into_owned()
}

fn write_json(mut obj: serde_json::Value, id: &str) {
    if let Some(map) = obj.as_object_mut() {
        map.insert(
            "time".into(),
            now().map_or(serde_json::Value::Null, Into::into),
        );
        map.insert("request_id".into(), id.into());
    }
    // One write per line: a host that labels or interleaves its instances'
    // output (wasmtime serve's `stderr [N] ::`) does so per write.
    let mut text = obj.to_string();
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The host's wall clock in RFC 3339 (UTC, milliseconds), where it gives one.
#[cfg(target_family = "wasm")]
fn now() -> Option<String> {
    let t = wasi::clocks::wall_clock::now();
    Some(rfc3339(t.seconds, t.nanoseconds / 1_000_000))
}

#[cfg(not(target_family = "wasm"))]
fn now() -> Option<String> {
    None
}

/// Seconds since the Unix epoch as `YYYY-MM-DDThh:mm:ss.mmmZ` (proleptic
/// Gregorian calendar; days counted in 400-year eras).
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn rfc3339(secs: u64, millis: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The most bytes of one request value (an `Origin`, a path) in a log line.
pub const MAX_LOGGED_VALUE: usize = 256;

/// Writes one line for the request `req`; a failure to write is ignored.
pub fn line(req: &Req, args: fmt::Arguments<'_>) {
    let id = req.id.as_str();
    if json() {
        let message = args.to_string();
        let message = message.strip_prefix("cors-gateway: ").unwrap_or(&message);
        return write_json(
            serde_json::json!({"event": "message", "message": message}),
            id,
        );
    }
    // A safe token (checked or made), so it cannot forge a line. One write
    // per line, as for JSON: `writeln!` on unbuffered stderr would write
    // each piece, and the host interleaves other instances' pieces.
    let text = format!("{args} request_id={id}\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `log!(req, "...", args)`: one line on stderr for the request `req` (a
/// `&Req`), that never panics.
macro_rules! log {
    ($req:expr, $($arg:tt)*) => { $crate::log::line($req, format_args!($($arg)*)) };
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

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        // date -u -d @1796169600 → 2026-12-02 00:00:00
        assert_eq!(
            super::rfc3339(1_796_169_600 + 3661, 5),
            "2026-12-02T01:01:01.005Z"
        );
        assert_eq!(super::rfc3339(951_782_400, 999), "2000-02-29T00:00:00.999Z");
    }
}
