//! `bench-upstream [PORT]`: answers every request on 127.0.0.1 with a small
//! JSON body, as fast as one thread can, so the load test measures what sits
//! in front of it. Prints `listening 127.0.0.1:PORT` once ready.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

async fn answer(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("x-request-id", "bench")
        .body(Full::new(Bytes::from_static(b"{\"ok\":true}\n")))
        .expect("static response is valid"))
}

// One thread: on a 2-core machine the upstream must not take the cores the
// component host needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().expect("PORT must be a number"),
        None => 0,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                .await;
        });
    }
}
