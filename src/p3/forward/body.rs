//! The two bodies of a forwarded exchange (WASI 0.3): the client's upload
//! to the upstream and the upstream's download to the client, each a task
//! moving one chunk at a time, each read and write bounded by the route's
//! idle timeout and deadline, trailers filtered by the core's rule.

use super::super::task::{race, Either};
use super::Exchange;
use crate::log::Req;
use cors_gateway_core::forwarding;
use std::future::IntoFuture;
use wasip3::clocks::monotonic_clock;
use wasip3::http::types::{ErrorCode, Fields, Trailers};
use wasip3::wit_bindgen::rt::async_support::{
    FutureReader, FutureWriter, StreamReader, StreamResult, StreamWriter,
};

/// Bytes moved per read: with one chunk in flight per direction, the most
/// body memory an exchange holds.
pub(super) const CHUNK: usize = 64 * 1024;

pub(super) type TrailersResult = Result<Option<Trailers>, ErrorCode>;

/// How the upload ended, for the exchange waiting on the response head.
pub(super) enum UploadEnd {
    Done,
    Failed(u16, String),
}

/// The route's clocks for one exchange.
#[derive(Clone, Copy)]
pub(super) struct Clock {
    pub(super) deadline_at: u64,
    pub(super) idle_ns: u64,
}

impl Clock {
    /// Waits until `ns` from now, or the deadline if sooner; `true` when
    /// it was the deadline.
    pub(super) async fn wait(self, ns: u64) -> bool {
        let until = monotonic_clock::now().saturating_add(ns);
        monotonic_clock::wait_until(until.min(self.deadline_at)).await;
        until >= self.deadline_at
    }

    async fn idle(self) -> bool {
        self.wait(self.idle_ns).await
    }

    fn timed_out(at_deadline: bool) -> &'static str {
        if at_deadline {
            "the route's deadline_ms passed"
        } else {
            "no progress within idle_timeout_ms"
        }
    }
}

pub(super) enum Read {
    Data(Vec<u8>),
    End,
    /// `true` when the deadline passed, else the idle timeout.
    TimedOut(bool),
}

/// The next chunk of `stream`, waiting at most the idle timeout.
pub(super) async fn read(stream: &mut StreamReader<u8>, clock: Clock) -> Read {
    loop {
        match race(stream.read(Vec::with_capacity(CHUNK)), clock.idle()).await {
            Either::Left((StreamResult::Complete(_), chunk)) if chunk.is_empty() => continue,
            Either::Left((StreamResult::Complete(_), chunk)) => return Read::Data(chunk),
            Either::Left((StreamResult::Dropped | StreamResult::Cancelled, _)) => return Read::End,
            Either::Right(at_deadline) => return Read::TimedOut(at_deadline),
        }
    }
}

/// Writes `chunk`, waiting at most the idle timeout. `Ok(false)`: the
/// reader is gone. `Err(at_deadline)`: it timed out.
async fn write(stream: &mut StreamWriter<u8>, chunk: Vec<u8>, clock: Clock) -> Result<bool, bool> {
    match race(stream.write_all(chunk), clock.idle()).await {
        Either::Left(rest) => Ok(rest.is_empty()),
        Either::Right(at_deadline) => Err(at_deadline),
    }
}

/// The trailers a finished body passes on: the allowed ones of a chunked
/// body; `Err` when the body failed.
async fn pass_trailers(
    trailers: FutureReader<TrailersResult>,
    chunked: bool,
    clock: Clock,
) -> Result<Option<Trailers>, String> {
    let got = match race(trailers.into_future(), clock.wait(u64::MAX)).await {
        Either::Left(got) => got,
        Either::Right(_) => return Err(Clock::timed_out(true).into()),
    };
    match got {
        Ok(Some(fields)) if chunked => {
            let kept: Vec<(String, Vec<u8>)> = fields
                .copy_all()
                .into_iter()
                .filter(|(n, _)| forwarding::trailer_allowed(n))
                .collect();
            Ok((!kept.is_empty())
                .then(|| Fields::from_list(&kept).ok())
                .flatten())
        }
        Ok(_) => Ok(None),
        Err(code) => Err(format!("{code:?}")),
    }
}

/// The client's request body on its way to the upstream.
pub(super) struct Upload {
    pub(super) client: StreamReader<u8>,
    pub(super) client_trailers: FutureReader<TrailersResult>,
    pub(super) upstream: StreamWriter<u8>,
    pub(super) upstream_trailers: FutureWriter<TrailersResult>,
    pub(super) chunked: bool,
    pub(super) limit: Option<u64>,
    pub(super) moved: u64,
    pub(super) clock: Clock,
}

impl Upload {
    pub(super) async fn run(mut self, first: Vec<u8>) -> UploadEnd {
        let mut chunk = first;
        // `false` once the upstream stopped reading: the rest is discarded,
        // so the client can finish sending and read the answer.
        let mut open = true;
        loop {
            if open && !chunk.is_empty() {
                match write(&mut self.upstream, chunk, self.clock).await {
                    Ok(true) => {}
                    Ok(false) => open = false,
                    Err(at_deadline) => {
                        return self.abort(504, Clock::timed_out(at_deadline).into()).await;
                    }
                }
            }
            chunk = match read(&mut self.client, self.clock).await {
                Read::Data(c) => c,
                Read::End => break,
                Read::TimedOut(true) => {
                    return self.abort(504, Clock::timed_out(true).into()).await
                }
                Read::TimedOut(false) => {
                    return self
                        .abort(
                            408,
                            "the client's body paused longer than idle_timeout_ms".into(),
                        )
                        .await
                }
            };
            self.moved += chunk.len() as u64;
            if self.limit.is_some_and(|l| self.moved > l) {
                return self
                    .abort(
                        413,
                        "request body over max_request_body_bytes; upstream request aborted".into(),
                    )
                    .await;
            }
        }
        let Upload {
            upstream,
            upstream_trailers,
            client_trailers,
            chunked,
            clock,
            ..
        } = self;
        // The body stream closes before its trailers resolve.
        drop(upstream);
        match pass_trailers(client_trailers, chunked, clock).await {
            Ok(trailers) => {
                put(upstream_trailers, Ok(trailers), clock).await;
                UploadEnd::Done
            }
            Err(e) => {
                let failed = Err(ErrorCode::InternalError(Some(e.clone())));
                put(upstream_trailers, failed, clock).await;
                UploadEnd::Failed(
                    400,
                    format!("client request body failed: {e}; upstream request aborted"),
                )
            }
        }
    }

    /// Ends the upload with an error, which makes the host abort the
    /// upstream request.
    async fn abort(self, status: u16, reason: String) -> UploadEnd {
        let Upload {
            upstream,
            upstream_trailers,
            clock,
            ..
        } = self;
        drop(upstream);
        put(
            upstream_trailers,
            Err(ErrorCode::InternalError(Some(reason.clone()))),
            clock,
        )
        .await;
        UploadEnd::Failed(status, reason)
    }
}

/// The upstream's response body on its way to the client.
pub(super) struct Download {
    pub(super) upstream: StreamReader<u8>,
    pub(super) upstream_trailers: FutureReader<TrailersResult>,
    pub(super) client: StreamWriter<u8>,
    pub(super) client_trailers: FutureWriter<TrailersResult>,
    pub(super) chunked: bool,
    pub(super) clock: Clock,
}

impl Download {
    pub(super) async fn run(mut self, exchange: &Exchange, req: &Req) {
        loop {
            // Waiting on the upstream, the host's between-bytes timeout holds
            // (set from idle_timeout_ms); the deadline is the exchange's.
            let got = match race(
                self.upstream.read(Vec::with_capacity(CHUNK)),
                self.clock.wait(u64::MAX),
            )
            .await
            {
                Either::Left((StreamResult::Complete(_), chunk)) => chunk,
                Either::Left(_) => break,
                Either::Right(_) => return self.abort(exchange, req, Clock::timed_out(true)).await,
            };
            if got.is_empty() {
                continue;
            }
            match write(&mut self.client, got, self.clock).await {
                Ok(true) => {}
                Ok(false) => {
                    return exchange.log(req, "the client went away; response abandoned");
                }
                Err(at_deadline) => {
                    return self
                        .abort(exchange, req, Clock::timed_out(at_deadline))
                        .await;
                }
            }
        }
        let Download {
            client,
            client_trailers,
            upstream_trailers,
            chunked,
            clock,
            ..
        } = self;
        drop(client);
        match pass_trailers(upstream_trailers, chunked, clock).await {
            Ok(trailers) => {
                put(client_trailers, Ok(trailers), clock).await;
            }
            Err(e) => {
                // An error instead of the trailers makes the host abort the
                // response: the client sees a broken transfer, never a
                // truncated body that looks complete.
                exchange.log(
                    req,
                    &format!("response body broke mid-stream: {e}; response aborted"),
                );
                put(
                    client_trailers,
                    Err(ErrorCode::InternalError(Some(e))),
                    clock,
                )
                .await;
            }
        }
    }

    async fn abort(self, exchange: &Exchange, req: &Req, why: &str) {
        exchange.log(req, &format!("{why}; response aborted"));
        let Download {
            client,
            client_trailers,
            clock,
            ..
        } = self;
        drop(client);
        put(
            client_trailers,
            Err(ErrorCode::InternalError(Some(why.into()))),
            clock,
        )
        .await;
    }
}

/// Resolves a body's trailers (or its failure), unless the reader is gone
/// or the deadline passes first.
async fn put(writer: FutureWriter<TrailersResult>, value: TrailersResult, clock: Clock) {
    let _ = race(writer.write(value), clock.wait(u64::MAX)).await;
}
