//! Forwarding over `wasi:http/client@0.3.0`: the same rules as the 0.2
//! build's loop (`p2::forward`), as async tasks. The request is framed as the
//! client framed it; the upload runs in a task of its own, so an upstream
//! that answers early, or streams while it reads, is answered at once; the
//! download is another task, which outlives the handler's return. Each read
//! and write waits at most the route's idle timeout, and nothing outlives its
//! deadline. Which headers cross is the core's rule
//! ([`cors_gateway_core::forwarding`]); the bodies are in [`body`].

mod body;

use super::task::{race, Either, Signal};
use super::{no_error, no_trailers, response, Incoming, Reply};
use crate::log::{log, Req};
use crate::respond::{self, Head};
use body::{read, Clock, Download, Read, TrailersResult, Upload, UploadEnd};
use cors_gateway_core::decision::{upstream_path, Decision};
use cors_gateway_core::forwarding::{self, ForwardOptions, Framing, Peer};
use cors_gateway_core::policy::UpstreamScheme;
use cors_gateway_core::Route;
use std::cell::Cell;
use std::rc::Rc;
use wasip3::clocks::monotonic_clock;
use wasip3::http::client;
use wasip3::http::types::{ErrorCode, Fields, Method, Request, RequestOptions, Response, Scheme};
use wasip3::{wit_future, wit_stream};

/// One forwarded exchange, everything it needs owned: it runs after the
/// request's policy and decision are gone.
pub(crate) struct Exchange {
    /// The request and the headers it is forwarded with, until it is sent.
    /// A cell keeps the exchange on `&self`, which the download task shares.
    request: Cell<Option<(Request, Fields)>>,
    method: Method,
    framing: Framing,
    target: String,
    scheme: Scheme,
    authority: String,
    opts: ForwardOptions,
    /// For log lines: the route's name and its upstream.
    route: String,
    upstream: String,
    /// The decision's CORS headers and `Vary`, for the gateway's own answers
    /// and the upstream's response.
    cors: Vec<(&'static str, Vec<u8>)>,
    vary: Option<String>,
    transparent: bool,
    start_ns: u64,
}

/// The checks that need no I/O, then the exchange to run.
pub(crate) fn prepare(
    req: &Req,
    incoming: Incoming<'_, super::P3>,
    route: &Route,
    decision: &Decision<'_>,
) -> Reply {
    let opts = &route.forward;
    let cors: Vec<(&'static str, Vec<u8>)> = respond::decision_headers(decision)
        .into_iter()
        .map(|(n, v)| (n, v.to_vec()))
        .collect();
    let fail = |status: u16, reason: &str| {
        Reply::Ready(answer(
            req,
            &route.name,
            &route.upstream.to_string(),
            &cors,
            decision.sent_vary(),
            status,
            reason,
        ))
    };
    let Ok(framing) = forwarding::framing(incoming.headers) else {
        return fail(400, "invalid Content-Length");
    };
    if let (Framing::Length(n), Some(limit)) = (framing, opts.max_request_body_bytes) {
        if n > limit {
            return fail(413, "request body over max_request_body_bytes");
        }
    }
    let peer = Peer {
        // The portable build: no host here vouches for the client's address.
        client_ip: None,
        host: incoming.authority,
        proto: match incoming.request.get_scheme() {
            Some(Scheme::Https) => "https",
            _ => "http",
        },
    };
    let headers = forwarding::request_headers(incoming.headers, opts, &peer);
    let Ok(fields) = Fields::from_list(&headers) else {
        return fail(400, "request headers the host refuses to forward");
    };
    Reply::Forward(Box::new(Exchange {
        request: Cell::new(Some((incoming.request, fields))),
        method: incoming.method.clone(),
        framing,
        target: upstream_path(route, incoming.path, incoming.query),
        scheme: match route.upstream.scheme {
            UpstreamScheme::Http => Scheme::Http,
            UpstreamScheme::Https => Scheme::Https,
        },
        authority: route.upstream.authority.clone(),
        opts: opts.clone(),
        route: route.name.clone(),
        upstream: route.upstream.to_string(),
        cors,
        vary: decision.sent_vary().map(str::to_string),
        transparent: decision.is_report_only(),
        start_ns: monotonic_clock::now(),
    }))
}

/// An answer the gateway writes itself when forwarding fails, with the
/// decision's CORS headers, and its log line.
fn answer(
    req: &Req,
    route: &str,
    upstream: &str,
    cors: &[(&'static str, Vec<u8>)],
    vary: Option<&str>,
    status: u16,
    reason: &str,
) -> Response {
    log!(
        req,
        "cors-gateway: upstream {upstream} for route {route}: {status} {reason}"
    );
    let cors: Vec<(&'static str, &[u8])> = cors.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    response(
        req,
        Head::new(status, &cors, vary),
        respond::forward_failure_body(status),
    )
}

fn ms_to_ns(ms: u32) -> u64 {
    u64::from(ms) * 1_000_000
}

/// The status for a failure to get a response, and the host's reason.
fn classify(code: &ErrorCode) -> (u16, String) {
    let reason = format!("{code:?}");
    match code {
        // The host found the body shorter or longer than its Content-Length.
        ErrorCode::HttpRequestBodySize(_) => {
            (400, "request body does not match its Content-Length".into())
        }
        _ => (forwarding::error_status(&reason), reason),
    }
}

impl Exchange {
    fn answer(&self, req: &Req, status: u16, reason: &str) -> Response {
        answer(
            req,
            &self.route,
            &self.upstream,
            &self.cors,
            self.vary.as_deref(),
            status,
            reason,
        )
    }

    pub(super) fn log(&self, req: &Req, what: &str) {
        log!(
            req,
            "cors-gateway: upstream {} (route {}): {what}",
            self.upstream,
            self.route
        );
    }

    /// Runs the exchange; `req` is finished when the response is complete
    /// (in the download task when there is a body).
    pub(crate) async fn run(self, req: Req) -> Response {
        let response = self.exchange(&req).await;
        match response {
            Done::Answer(r) => {
                self.finish(&req);
                req.finish();
                r
            }
            Done::Streaming(r, download) => {
                let exchange = Rc::new(self);
                wasip3::spawn(async move {
                    download.run(&exchange, &req).await;
                    exchange.finish(&req);
                    req.finish();
                });
                r
            }
        }
    }

    fn finish(&self, req: &Req) {
        req.note_upstream_ms(monotonic_clock::now().saturating_sub(self.start_ns) / 1_000_000);
    }

    async fn exchange(&self, req: &Req) -> Done {
        let opts = &self.opts;
        let clock = Clock {
            deadline_at: self.start_ns.saturating_add(ms_to_ns(opts.deadline_ms)),
            idle_ns: ms_to_ns(opts.idle_timeout_ms),
        };
        let Some((request, headers)) = self.request.take() else {
            return Done::Answer(self.answer(req, 502, "request already forwarded"));
        };
        let (mut client, client_trailers) = Request::consume_body(request, no_error());

        // Without a Content-Length the host cannot say whether a body follows
        // (it removed `Transfer-Encoding`): the first read tells. An empty
        // body is then forwarded as none, never as an empty chunked one.
        let first = match self.framing {
            Framing::Length(0) => None,
            // The upload starts at once and streams what arrives.
            Framing::Length(_) => Some(Vec::new()),
            Framing::Unknown => match read(&mut client, clock).await {
                Read::Data(chunk) => Some(chunk),
                Read::End => None,
                Read::TimedOut(at_deadline) => {
                    let status = if at_deadline { 504 } else { 408 };
                    return Done::Answer(self.answer(
                        req,
                        status,
                        "no request body within the route's timeout",
                    ));
                }
            },
        };
        if let (Some(chunk), Some(limit)) = (&first, opts.max_request_body_bytes) {
            if chunk.len() as u64 > limit {
                return Done::Answer(self.answer(
                    req,
                    413,
                    "request body over max_request_body_bytes",
                ));
            }
        }
        let has_body = first.is_some();

        let (up_tx, up_rx) = wit_stream::new::<u8>();
        let (up_trailers_tx, up_trailers_rx) = wit_future::new::<TrailersResult>(|| Ok(None));
        let options = RequestOptions::new();
        // Best effort: a host that does not support a timeout keeps its
        // default. With a body to send, the host's first-byte clock would
        // also run during the upload, so the exchange keeps that one (from
        // the upload's end).
        let _ = options.set_connect_timeout(Some(ms_to_ns(opts.connect_timeout_ms)));
        let deadline_ns = ms_to_ns(opts.deadline_ms);
        let first_byte_ns = ms_to_ns(opts.first_byte_timeout_ms);
        let _ = options.set_first_byte_timeout(Some(if has_body {
            deadline_ns
        } else {
            first_byte_ns.min(deadline_ns)
        }));
        let _ = options.set_between_bytes_timeout(Some(clock.idle_ns));
        let (contents, trailers) = if has_body {
            (Some(up_rx), up_trailers_rx)
        } else {
            drop(up_rx);
            // A 0.3 host cannot tell a request without contents from one whose
            // length is still unknown (its trailers are a future), and would
            // send an empty chunked body. A length of zero says "none".
            if self.framing == Framing::Unknown {
                let _ = headers.append("content-length", b"0");
            }
            (None, no_trailers())
        };
        let (request, _sent) = Request::new(headers, contents, trailers, Some(options));
        // A new request is a GET (the constructor's): one host call less for
        // the commonest request.
        if (!matches!(self.method, Method::Get) && request.set_method(&self.method).is_err())
            || request.set_scheme(Some(&self.scheme)).is_err()
            || request.set_authority(Some(&self.authority)).is_err()
            || request.set_path_with_query(Some(&self.target)).is_err()
        {
            return Done::Answer(self.answer(req, 400, "request line the host refuses to forward"));
        }

        let upload_end = Rc::new(Signal::new());
        if let Some(first) = first {
            let upload = Upload {
                client,
                client_trailers,
                upstream: up_tx,
                upstream_trailers: up_trailers_tx,
                chunked: self.framing == Framing::Unknown,
                limit: opts.max_request_body_bytes,
                moved: first.len() as u64,
                clock,
            };
            let end = Rc::clone(&upload_end);
            wasip3::spawn(async move { end.set(upload.run(first).await) });
        } else {
            drop(up_tx);
            drop(up_trailers_tx);
            drop(client);
            drop(client_trailers);
            upload_end.set(UploadEnd::Done);
        }

        // Wait for the response head, while the upload runs; after it, the
        // first-byte timeout holds (the host's when there was no body).
        let mut sent = std::pin::pin!(client::send(request));
        let mut uploading = has_body;
        let result = loop {
            let wait = async {
                if uploading {
                    Either::Left(upload_end.wait().await)
                } else {
                    let waited = if has_body { first_byte_ns } else { deadline_ns };
                    Either::Right(clock.wait(waited).await)
                }
            };
            match race(sent.as_mut(), wait).await {
                Either::Left(result) => break result,
                Either::Right(Either::Left(UploadEnd::Done)) => uploading = false,
                Either::Right(Either::Left(UploadEnd::Failed(status, reason))) => {
                    return Done::Answer(self.answer(req, status, &reason));
                }
                Either::Right(Either::Right(at_deadline)) => {
                    let why = if at_deadline {
                        "the route's deadline_ms passed"
                    } else {
                        "no response head within first_byte_timeout_ms"
                    };
                    return Done::Answer(self.answer(req, 504, why));
                }
            }
        };
        let upstream = match result {
            Ok(r) => r,
            Err(code) => {
                let (status, reason) = classify(&code);
                return Done::Answer(self.answer(req, status, &reason));
            }
        };
        self.start_response(req, upstream, clock)
    }

    /// Sends the upstream's response head; the download, when it has a body.
    fn start_response(&self, req: &Req, upstream: Response, clock: Clock) -> Done {
        let upstream_headers = upstream.get_headers().copy_all();
        let status = upstream.get_status_code();
        let cors: Vec<(&'static str, &[u8])> =
            self.cors.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        let relayed = respond::relayed_head(
            req,
            &upstream_headers,
            status,
            &self.opts,
            self.transparent,
            &cors,
            self.vary.as_deref(),
        );
        let (headers, framing) = match relayed {
            Ok(head) => head,
            Err(reason) => return Done::Answer(self.answer(req, 502, &reason)),
        };
        let Ok(fields) = Fields::from_list(&headers) else {
            return Done::Answer(self.answer(req, 502, "response headers that cannot be relayed"));
        };
        if !forwarding::response_has_body(matches!(self.method, Method::Head), status) {
            // No body stream: the host sends the head alone, its
            // Content-Length (of a HEAD or 304) as the upstream gave it.
            let (response, _sent) = Response::new(fields, None, no_trailers());
            let _ = response.set_status_code(status);
            return Done::Answer(response);
        }
        let (body, trailers) = Response::consume_body(upstream, no_error());
        let (tx, rx) = wit_stream::new::<u8>();
        let (trailers_tx, trailers_rx) = wit_future::new::<TrailersResult>(|| Ok(None));
        let (response, _sent) = Response::new(fields, Some(rx), trailers_rx);
        let _ = response.set_status_code(status);
        Done::Streaming(
            response,
            Download {
                upstream: body,
                upstream_trailers: trailers,
                client: tx,
                client_trailers: trailers_tx,
                chunked: forwarding::may_have_trailers(framing),
                clock,
            },
        )
    }
}

enum Done {
    Answer(Response),
    Streaming(Response, Download),
}
