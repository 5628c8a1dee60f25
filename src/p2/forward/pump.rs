//! The full-duplex forwarding loop: the client's upload, the upstream's
//! response head and the download make progress together, in one
//! `wasi:io/poll` loop over their streams, the response future and the
//! route's timers. An upstream that answers before reading the whole upload
//! is answered at once; one that streams while it reads (an echo) never
//! deadlocks against a half-sent request.

use super::{classify, ms_to_ns, Answer};
use crate::log::log;
use crate::p2::wasi_http::{
    Fields, IncomingBody, IncomingResponse, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::respond;
use cors_gateway_core::forwarding::{self, ForwardOptions};
use spin_sdk::wit::wasi::http0_2_0::types::{FutureIncomingResponse, FutureTrailers};
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{poll, Pollable};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Bytes moved per read; with one pending chunk per direction, the most body
/// memory an exchange holds.
const CHUNK: u64 = 64 * 1024;

/// An exchange that ended before its response head was sent: what to answer.
pub(crate) enum Outcome {
    Status(u16, String),
}

/// The route's clocks for one exchange.
pub(crate) struct Clock {
    /// Fires when the whole exchange must end (started with the exchange).
    deadline_timer: Pollable,
    deadline_ns: u64,
    idle_ns: u64,
    first_byte_ns: u64,
}

impl Clock {
    pub(crate) fn start(opts: &ForwardOptions) -> Clock {
        let deadline_ns = ms_to_ns(opts.deadline_ms);
        Clock {
            deadline_timer: monotonic_clock::subscribe_duration(deadline_ns),
            deadline_ns,
            idle_ns: ms_to_ns(opts.idle_timeout_ms),
            first_byte_ns: ms_to_ns(opts.first_byte_timeout_ms),
        }
    }

    /// The whole deadline, for host timeouts that must not cut the exchange
    /// shorter (the pump's own timer ends it on time).
    pub(crate) fn deadline_ns(&self) -> u64 {
        self.deadline_ns
    }

    fn deadline(&self) -> &Pollable {
        &self.deadline_timer
    }
}

/// Which side of a pipe it waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    In,
    Out,
}

enum Step {
    Progress,
    Blocked(Dir),
    Eof,
    OverLimit,
    ReadFailed(String),
    WriteFailed(String),
}

/// One direction: an input stream copied to an output stream (or discarded
/// when there is none) through one pending chunk.
pub(crate) struct Pipe {
    // Pollables are children of the streams: declared first, dropped first.
    in_ready: Option<Pollable>,
    out_ready: Option<Pollable>,
    input: InputStream,
    output: Option<OutputStream>,
    buf: Vec<u8>,
    off: usize,
    moved: u64,
    limit: Option<u64>,
    eof: bool,
    wrote: bool,
}

impl Pipe {
    pub(crate) fn new(input: InputStream, limit: Option<u64>) -> Pipe {
        Pipe {
            in_ready: None,
            out_ready: None,
            input,
            output: None,
            buf: Vec::new(),
            off: 0,
            moved: 0,
            limit,
            eof: false,
            wrote: false,
        }
    }

    /// Waits for the first bytes of a body of unknown length: `true` when
    /// there are some (kept for the upload), `false` for an empty body.
    pub(crate) fn peek(&mut self, clock: &Clock) -> Result<bool, Outcome> {
        loop {
            match self.read() {
                Step::Progress => return Ok(true),
                Step::Eof => return Ok(false),
                Step::OverLimit => {
                    return Err(Outcome::Status(
                        413,
                        "request body over max_request_body_bytes".into(),
                    ))
                }
                Step::ReadFailed(e) => {
                    return Err(Outcome::Status(400, format!("request body failed: {e}")))
                }
                Step::Blocked(_) | Step::WriteFailed(_) => {
                    let idle = monotonic_clock::subscribe_duration(clock.idle_ns);
                    let ready = self.pollable(Dir::In);
                    let got = poll(&[ready, clock.deadline(), &idle]);
                    if !got.contains(&0) {
                        let status = if got.contains(&1) { 504 } else { 408 };
                        return Err(Outcome::Status(
                            status,
                            "no request body within the route's timeout".into(),
                        ));
                    }
                }
            }
        }
    }

    /// Makes this pipe an upload of `client` into `upstream`.
    pub(crate) fn into_upload(
        mut self,
        client: IncomingBody,
        upstream: OutgoingBody,
        chunked: bool,
    ) -> Option<Upload> {
        self.output = Some(upstream.write().ok()?);
        Some(Upload {
            pipe: self,
            client: Some(client),
            upstream: Some(upstream),
            chunked,
        })
    }

    fn pollable(&mut self, dir: Dir) -> &Pollable {
        match (dir, &self.output) {
            (Dir::Out, Some(out)) => self.out_ready.get_or_insert_with(|| out.subscribe()),
            _ => self.in_ready.get_or_insert_with(|| self.input.subscribe()),
        }
    }

    fn read(&mut self) -> Step {
        match self.input.read(CHUNK) {
            Ok(chunk) if chunk.is_empty() => Step::Blocked(Dir::In),
            Ok(chunk) => {
                self.moved += chunk.len() as u64;
                if self.limit.is_some_and(|l| self.moved > l) {
                    return Step::OverLimit;
                }
                self.buf = chunk;
                self.off = 0;
                Step::Progress
            }
            Err(StreamError::Closed) => {
                self.eof = true;
                Step::Eof
            }
            Err(StreamError::LastOperationFailed(e)) => Step::ReadFailed(e.to_debug_string()),
        }
    }

    fn step(&mut self) -> Step {
        if self.off < self.buf.len() {
            let Some(out) = &self.output else {
                // Discarding (the upstream stopped reading the upload).
                self.off = self.buf.len();
                return Step::Progress;
            };
            let permit = match out.check_write() {
                Ok(p) => p,
                Err(e) => return Step::WriteFailed(stream_error(e)),
            };
            if permit == 0 {
                return Step::Blocked(Dir::Out);
            }
            let rest = self.buf.len() - self.off;
            if rest <= crate::p2::MAX_WRITE_AND_FLUSH && permit >= rest as u64 {
                // One host call where write + flush are two; it cannot block
                // long, the stream has room for all of it.
                if let Err(e) = out.blocking_write_and_flush(&self.buf[self.off..]) {
                    return Step::WriteFailed(stream_error(e));
                }
                self.off = self.buf.len();
                return Step::Progress;
            }
            let n = rest.min(usize::try_from(permit).unwrap_or(usize::MAX));
            if let Err(e) = out.write(&self.buf[self.off..self.off + n]) {
                return Step::WriteFailed(stream_error(e));
            }
            // Starts the flush without waiting; the next check-write waits.
            if let Err(e) = out.flush() {
                return Step::WriteFailed(stream_error(e));
            }
            self.wrote = true;
            self.off += n;
            return Step::Progress;
        }
        if self.eof {
            return Step::Eof;
        }
        self.read()
    }

    /// Waits until what was written is flushed, so finishing the body
    /// cannot cut it short.
    fn flushed(&mut self) -> Result<(), String> {
        if let (Some(out), true) = (&self.output, self.wrote) {
            match out.blocking_flush() {
                // The host closes a body stream once its Content-Length is
                // written; finishing the body checks the length.
                Ok(()) | Err(StreamError::Closed) => {}
                Err(e) => return Err(stream_error(e)),
            }
        }
        Ok(())
    }

    /// Stops writing: the rest of the input is read and discarded.
    fn discard(&mut self) {
        self.out_ready = None;
        self.output = None;
    }
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::Closed => "closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

/// The client's request body on its way to the upstream.
pub(crate) struct Upload {
    // Streams before their bodies: dropped first.
    pipe: Pipe,
    client: Option<IncomingBody>,
    /// `None` once the upstream stopped reading (its request was aborted).
    upstream: Option<OutgoingBody>,
    /// The upstream request is chunked, so trailers can follow it.
    chunked: bool,
}

impl Upload {
    /// The upstream stopped reading: abort its request body, keep reading
    /// the client's (discarded) so the exchange can still complete.
    fn upstream_gone(&mut self) {
        self.pipe.discard();
        drop(self.upstream.take());
    }

    /// The client's body ended: pass its trailers on and finish the
    /// upstream's. `Err` for a body that does not match its Content-Length.
    fn finish(self, clock: &Clock) -> Result<(), Outcome> {
        let Upload {
            mut pipe,
            client,
            upstream,
            chunked,
        } = self;
        let flushed = pipe.flushed();
        drop(pipe);
        // Only a chunked body can carry trailers: asking costs host calls.
        let trailers = match (client, chunked && upstream.is_some()) {
            (Some(b), true) => trailers(IncomingBody::finish(b), clock),
            _ => None,
        };
        let Some(upstream) = upstream else {
            return Ok(());
        };
        if let Err(e) = flushed {
            return Err(Outcome::Status(502, format!("upload failed: {e}")));
        }
        match OutgoingBody::finish(upstream, trailers) {
            Ok(()) => Ok(()),
            Err(crate::p2::wasi_http::ErrorCode::HttpRequestBodySize(_)) => Err(Outcome::Status(
                400,
                "request body does not match its Content-Length".into(),
            )),
            Err(code) => {
                let (status, reason) = classify(&code);
                Err(Outcome::Status(status, reason))
            }
        }
    }
}

/// The trailers of a finished incoming body, filtered for forwarding.
fn trailers(future: FutureTrailers, clock: &Clock) -> Option<Fields> {
    let ready = future.subscribe();
    poll(&[&ready, clock.deadline()]);
    drop(ready);
    let fields = match future.get() {
        Some(Ok(Ok(Some(f)))) => f,
        _ => return None,
    };
    let kept: Vec<(String, Vec<u8>)> = fields
        .entries()
        .into_iter()
        .filter(|(n, _)| forwarding::trailer_allowed(n))
        .collect();
    if kept.is_empty() {
        return None;
    }
    Fields::from_list(&kept).ok()
}

/// The upstream's response body on its way to the client.
struct Download {
    pipe: Pipe,
    upstream: IncomingBody,
    client: OutgoingBody,
    chunked: bool,
    // The response outlives its body.
    _response: IncomingResponse,
}

impl Download {
    fn finish(self, clock: &Clock) -> Result<(), String> {
        let Download {
            mut pipe,
            upstream,
            client,
            chunked,
            _response,
        } = self;
        let flushed = pipe.flushed();
        drop(pipe);
        // Only a chunked body can carry trailers: asking costs host calls.
        let trailers = if chunked {
            trailers(IncomingBody::finish(upstream), clock)
        } else {
            drop(upstream);
            None
        };
        flushed?;
        OutgoingBody::finish(client, trailers).map_err(|c| format!("{c:?}"))
    }
}

/// One forwarded exchange after the request was handed to the host.
pub(crate) struct Exchange<'a> {
    pub(crate) answer: &'a Answer<'a>,
    pub(crate) clock: Clock,
    pub(crate) is_head: bool,
}

/// Why the loop waits, for the timer that fires.
#[derive(PartialEq, Eq)]
enum Waiting {
    ForClient,
    ForUpstream,
}

impl Exchange<'_> {
    fn log(&self, what: &str) {
        log!(
            self.answer.req,
            "cors-gateway: upstream {} (route {}): {what}",
            self.answer.route.upstream,
            self.answer.route.name
        );
    }

    pub(crate) fn run(
        &self,
        mut upload: Option<Upload>,
        future: FutureIncomingResponse,
        out: ResponseOutparam,
    ) {
        let mut out = Some(out);
        let mut future = Some(future);
        // Declared after its parent, so dropped before it on every return.
        let mut head_ready: Option<Pollable> = None;
        let mut download: Option<Download> = None;
        let mut first_byte_timer: Option<Pollable> = None;
        // The response is complete; only the rest of the upload is discarded.
        let mut response_done = false;

        // Ends the exchange before or after the head was sent.
        let fail =
            |out: &mut Option<ResponseOutparam>, status: u16, reason: String| match out.take() {
                Some(o) => self.answer.send(o, status, &reason),
                None => self.log(&format!("{reason}; response aborted")),
            };

        loop {
            let mut progress = false;
            let mut waiting = Waiting::ForUpstream;
            let mut up_dir = None;
            let mut down_dir = None;

            if let Some(u) = upload.as_mut() {
                match u.pipe.step() {
                    Step::Progress => progress = true,
                    Step::Blocked(d) => {
                        if d == Dir::In {
                            waiting = Waiting::ForClient;
                        }
                        up_dir = Some(d);
                    }
                    Step::Eof => {
                        progress = true;
                        let done = upload.take().map(|u| u.finish(&self.clock));
                        if let Some(Err(Outcome::Status(status, reason))) = done {
                            drop(download.take());
                            return fail(&mut out, status, reason);
                        }
                        if future.is_some() {
                            first_byte_timer = Some(monotonic_clock::subscribe_duration(
                                self.clock.first_byte_ns,
                            ));
                        }
                    }
                    Step::OverLimit => {
                        drop(upload.take());
                        drop(download.take());
                        return fail(
                            &mut out,
                            413,
                            "request body over max_request_body_bytes; upstream request aborted"
                                .into(),
                        );
                    }
                    Step::ReadFailed(e) => {
                        drop(upload.take());
                        drop(download.take());
                        return fail(
                            &mut out,
                            400,
                            format!("client request body failed: {e}; upstream request aborted"),
                        );
                    }
                    Step::WriteFailed(_) => {
                        // The upstream stopped reading (it may have answered
                        // already): its answer, if any, is still the answer.
                        u.upstream_gone();
                        progress = true;
                    }
                }
            }

            if response_done && upload.is_none() {
                return;
            }

            if let Some(f) = future.as_ref() {
                if let Some(result) = f.get() {
                    drop(head_ready.take());
                    drop(future.take());
                    drop(first_byte_timer.take());
                    progress = true;
                    let response = match result {
                        Ok(Ok(r)) => r,
                        Ok(Err(code)) => {
                            drop(upload.take());
                            let (status, reason) = classify(&code);
                            return fail(&mut out, status, reason);
                        }
                        Err(()) => {
                            drop(upload.take());
                            return fail(&mut out, 502, "no response from the host".into());
                        }
                    };
                    let Some(o) = out.take() else { return };
                    match self.start_response(response, o) {
                        Ok(d) => download = d,
                        Err(()) => {
                            drop(upload.take());
                            return;
                        }
                    }
                    if download.is_none() {
                        // A bodyless answer (HEAD, 204, 304) is complete.
                        break;
                    }
                }
            }

            if let Some(d) = download.as_mut() {
                match d.pipe.step() {
                    Step::Progress => progress = true,
                    Step::Blocked(dir) => {
                        if dir == Dir::Out {
                            waiting = Waiting::ForClient;
                        }
                        down_dir = Some(dir);
                    }
                    Step::Eof => {
                        if let Some(Err(e)) = download.take().map(|d| d.finish(&self.clock)) {
                            self.log(&format!("response could not be finished: {e}"));
                        }
                        match upload.as_mut() {
                            None => break,
                            // The answer is complete but the client is still
                            // uploading: read the rest and throw it away (as
                            // nginx does), so the client can finish sending
                            // and read the answer instead of a reset.
                            Some(u) => {
                                u.upstream_gone();
                                response_done = true;
                                progress = true;
                            }
                        }
                    }
                    Step::OverLimit => {}
                    Step::ReadFailed(e) | Step::WriteFailed(e) => {
                        // Headers are gone already: dropping the body
                        // unfinished makes the host abort the response, so the
                        // client sees a broken transfer, never a truncated
                        // body that looks complete.
                        drop(download.take());
                        drop(upload.take());
                        return self.log(&format!(
                            "response body broke mid-stream: {e}; response aborted"
                        ));
                    }
                }
            }

            if progress {
                continue;
            }

            // Nothing moved: wait for whatever can move next, or a timer.
            if let (Some(d), Some(u)) = (up_dir, upload.as_mut()) {
                u.pipe.pollable(d);
            }
            if let (Some(d), Some(dl)) = (down_dir, download.as_mut()) {
                dl.pipe.pollable(d);
            }
            if let (None, Some(f)) = (&head_ready, future.as_ref()) {
                head_ready = Some(f.subscribe());
            }
            // Waiting for the head alone, the first-byte timeout holds (the
            // pump's after an upload, else the host's). Waiting for the
            // upstream's body alone, the host's between-bytes timeout does
            // (a timer less per pause). Otherwise the pump's idle timeout.
            let only_head = upload.is_none() && download.is_none();
            let host_times_it = upload.is_none() && down_dir == Some(Dir::In);
            let idle = (!only_head && !host_times_it)
                .then(|| monotonic_clock::subscribe_duration(self.clock.idle_ns));
            let mut list: Vec<&Pollable> = Vec::with_capacity(5);
            if let (Some(d), Some(u)) = (up_dir, upload.as_ref()) {
                if let Some(p) = u.pipe.ready(d) {
                    list.push(p);
                }
            }
            if let (Some(d), Some(dl)) = (down_dir, download.as_ref()) {
                if let Some(p) = dl.pipe.ready(d) {
                    list.push(p);
                }
            }
            if let (Some(p), true) = (&head_ready, future.is_some()) {
                list.push(p);
            }
            let timers = list.len();
            list.push(self.clock.deadline());
            if let Some(t) = idle.as_ref().or(first_byte_timer.as_ref()) {
                list.push(t);
            }
            let ready = poll(&list);
            drop(list);
            if ready.iter().any(|&i| (i as usize) < timers) {
                continue;
            }
            let (status, why) = if ready.contains(&(timers as u32)) {
                (504, "the route's deadline_ms passed")
            } else if only_head {
                (504, "no response head within first_byte_timeout_ms")
            } else if waiting == Waiting::ForClient && download.is_none() {
                (408, "the client's body paused longer than idle_timeout_ms")
            } else {
                (504, "no progress within idle_timeout_ms")
            };
            drop(idle);
            drop(upload.take());
            drop(download.take());
            drop(head_ready.take());
            drop(future.take());
            if response_done {
                return self.log(&format!("stopped discarding the rest of the upload: {why}"));
            }
            return fail(&mut out, status, why.into());
        }
        // The response is complete: an upload still running is abandoned
        // (the upstream answered without needing the rest).
        drop(upload.take());
    }

    /// Sends the upstream's response head; the download, when it has a body.
    fn start_response(
        &self,
        response: IncomingResponse,
        out: ResponseOutparam,
    ) -> Result<Option<Download>, ()> {
        let route = self.answer.route;
        let decision = self.answer.decision;
        let upstream_headers = response.headers().entries();
        let status = response.status();
        let relayed = respond::relayed_head(
            self.answer.req,
            &upstream_headers,
            status,
            &route.forward,
            decision.is_report_only(),
            &respond::decision_headers(decision),
            decision.sent_vary(),
        );
        let (headers, framing) = match relayed {
            Ok(head) => head,
            Err(reason) => {
                self.answer.send(out, 502, &reason);
                return Err(());
            }
        };
        let Ok(fields) = Fields::from_list(&headers) else {
            self.answer
                .send(out, 502, "response headers that cannot be relayed");
            return Err(());
        };
        let outgoing = OutgoingResponse::new(fields);
        // A new response is a 200 (WASI 0.2's constructor).
        if status != 200 {
            let _ = outgoing.set_status_code(status);
        }
        if !forwarding::response_has_body(self.is_head, status) {
            // No `body()`: the host sends the head alone, its
            // Content-Length (of a HEAD or 304) as the upstream gave it.
            ResponseOutparam::set(out, Ok(outgoing));
            return Ok(None);
        }
        let chunked = forwarding::may_have_trailers(framing);
        let (Ok(client), Ok(upstream)) = (outgoing.body(), response.consume()) else {
            self.answer.send(out, 502, "response body unavailable");
            return Err(());
        };
        let Ok(input) = upstream.stream() else {
            self.answer.send(out, 502, "response body unavailable");
            return Err(());
        };
        ResponseOutparam::set(out, Ok(outgoing));
        let Ok(output) = client.write() else {
            self.log("response body stream unavailable; response aborted");
            return Err(());
        };
        let mut pipe = Pipe::new(input, None);
        pipe.output = Some(output);
        Ok(Some(Download {
            pipe,
            upstream,
            client,
            chunked,
            _response: response,
        }))
    }
}

impl Pipe {
    fn ready(&self, dir: Dir) -> Option<&Pollable> {
        match (dir, &self.output) {
            (Dir::Out, Some(_)) => self.out_ready.as_ref(),
            _ => self.in_ready.as_ref(),
        }
    }
}
