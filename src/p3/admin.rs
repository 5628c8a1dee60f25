//! The admin endpoint over WASI 0.3 (Spin build): the endpoint itself is
//! binding-free ([`crate::admin`]); this reads the `PUT` body from the 0.3
//! stream, bounded, before asking it for the answer.

use super::{no_error, response};
use crate::admin;
use crate::log::Req;
use std::future::IntoFuture;
use wasip3::http::types::{Request, Response};
use wasip3::wit_bindgen::rt::async_support::StreamResult;

/// One admin request, owned: its body is read after `serve` returned.
pub(crate) struct Call {
    request: Request,
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    token: String,
}

impl Call {
    pub(crate) fn new(
        request: Request,
        method: &str,
        path: &str,
        headers: &[(String, Vec<u8>)],
        token: &str,
    ) -> Call {
        Call {
            request,
            method: method.to_string(),
            path: path.to_string(),
            headers: headers.to_vec(),
            token: token.to_string(),
        }
    }

    pub(crate) async fn run(self, req: &Req) -> Response {
        let body = if admin::wants_body(&self.method, &self.path, &self.headers, &self.token) {
            Some(read_body(self.request).await)
        } else {
            None
        };
        let (head, body) = admin::answer(
            req,
            &self.method,
            &self.path,
            &self.headers,
            &self.token,
            body,
        );
        response(req, head, &body)
    }
}

/// The whole request body, at most [`admin::MAX_POLICY_BYTES`]; `Err(status)`
/// otherwise.
async fn read_body(request: Request) -> Result<Vec<u8>, u16> {
    let (mut stream, trailers) = Request::consume_body(request, no_error());
    let mut out = Vec::new();
    loop {
        let (result, chunk) = stream.read(Vec::with_capacity(64 * 1024)).await;
        out.extend_from_slice(&chunk);
        if out.len() > admin::MAX_POLICY_BYTES {
            return Err(413);
        }
        match result {
            StreamResult::Complete(_) => {}
            StreamResult::Dropped | StreamResult::Cancelled => break,
        }
    }
    // The stream ends the same way whether the body was whole or the client
    // went away: the trailers future tells them apart.
    match trailers.into_future().await {
        Ok(_) => Ok(out),
        Err(_) => Err(400),
    }
}
