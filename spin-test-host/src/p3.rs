//! WASI 0.3 components (`wasi:http/handler@0.3.0`): one instance reused across
//! requests, as Spin 4 and `wasmtime serve` run them. That reuse is what the
//! gateway's per-instance caches are for, and what tests must be able to see.
//!
//! The instance lives in a worker task that owns its store and runs the
//! store's event loop (`run_concurrent`) for as long as the instance lives:
//! a response body is streamed by the guest after `handle` returns, so the
//! loop must keep turning while the client reads it. Requests reach the
//! worker over a channel, and each runs as a task of its own in the event
//! loop, so concurrent requests share the instance and run concurrently in
//! it. (`wasmtime serve` caps that at 16 per instance and 128 requests per
//! instance before starting another; this host has no caps: a test retires
//! the instance with [`Reused::retire`].)

use crate::{into_response, Response, SpinHost, State};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::{Accessor, AccessorTask};
use wasmtime::Store;
use wasmtime_wasi_http::p3::bindings::{Service, ServicePre};
use wasmtime_wasi_http::{FieldMap, WasiBody, WasiHttpView};

type Answer = oneshot::Sender<anyhow::Result<hyper::Response<WasiBody>>>;

/// A 0.3 component and the instance currently serving it, if any.
pub(crate) struct Reused {
    pre: ServicePre<State>,
    current: Mutex<Option<Worker>>,
}

/// The handle of a running instance.
struct Worker {
    jobs: mpsc::UnboundedSender<(hyper::Request<WasiBody>, Answer)>,
    /// Why the instance stopped (a trap, a failed instantiation): set before
    /// any caller hears of it, so that the requests it held can say why and
    /// the next one starts a new instance.
    died: Died,
}

type Died = Arc<Mutex<Option<String>>>;

fn lock(died: &Died) -> std::sync::MutexGuard<'_, Option<String>> {
    died.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reused {
    pub(crate) fn new(pre: ServicePre<State>) -> Reused {
        Reused {
            pre,
            current: Mutex::new(None),
        }
    }

    /// Retires the current instance: the next request starts a new one. The
    /// old one finishes the requests it holds, then is dropped.
    pub(crate) fn retire(&self) {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Sends one request through `wasi:http/handler` of the current instance,
    /// started first when there is none (or it died: a host replaces a
    /// trapped instance, counted in [`SpinHost::instances`] too).
    pub(crate) fn request(
        &self,
        host: &SpinHost,
        req: hyper::Request<Full<Bytes>>,
    ) -> anyhow::Result<Response> {
        let req = req.map(|b| {
            b.map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
                .boxed_unsync()
        });
        let (tx, rx) = oneshot::channel();
        let died = {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            let unsent = match current.as_ref() {
                Some(worker) if lock(&worker.died).is_none() => {
                    worker.jobs.send((req, tx)).err().map(|e| e.0)
                }
                _ => Some((req, tx)),
            };
            if let Some(job) = unsent {
                let worker = self.start(host)?;
                // Should the new worker fail at once, the answer is dropped
                // and `died` says why.
                let _ = worker.jobs.send(job);
                *current = Some(worker);
            }
            current.as_ref().map(|w| w.died.clone())
        };
        host.rt.block_on(async move {
            let response = match rx.await {
                Ok(answer) => answer?,
                Err(_) => {
                    let why = died
                        .and_then(|d| lock(&d).clone())
                        .unwrap_or_else(|| "no reason given".into());
                    anyhow::bail!("the instance stopped before answering: {why}")
                }
            };
            into_response(response).await
        })
    }

    /// Starts a new instance in a worker task.
    fn start(&self, host: &SpinHost) -> anyhow::Result<Worker> {
        let store = host.new_store(self.pre.engine())?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let died = Arc::new(Mutex::new(None));
        host.rt
            .spawn(run(store, self.pre.clone(), rx, died.clone()));
        Ok(Worker { jobs, died })
    }
}

/// The worker: instantiates, then serves requests until retired (every
/// sender dropped) or the instance traps. The store and the queue are
/// parameters so that they drop (and with them the waiting callers' answers)
/// only after `died` says why.
async fn run(
    mut store: Store<State>,
    pre: ServicePre<State>,
    mut jobs: mpsc::UnboundedReceiver<(hyper::Request<WasiBody>, Answer)>,
    died: Died,
) {
    let result = async {
        let service = Arc::new(pre.instantiate_async(&mut store).await?);
        store
            .run_concurrent(async |accessor| {
                while let Some((req, answer)) = jobs.recv().await {
                    accessor.spawn(Serve {
                        service: service.clone(),
                        req,
                        answer,
                        died: died.clone(),
                    })?;
                }
                // Retired: the requests in flight finish first, their
                // response bodies included (the guest tasks still running).
                std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                wasmtime::Result::<()>::Ok(())
            })
            .await?
    }
    .await;
    if let Err(e) = result {
        lock(&died).get_or_insert_with(|| format!("{e:?}"));
    }
}

/// One request, as a task of the instance's event loop.
struct Serve {
    service: Arc<Service>,
    req: hyper::Request<WasiBody>,
    answer: Answer,
    died: Died,
}

impl AccessorTask<State> for Serve {
    async fn run(self, accessor: &Accessor<State>) -> wasmtime::Result<()> {
        let Serve {
            service,
            req,
            answer,
            died,
        } = self;
        // As `Request::from_http` does, but its I/O future would borrow the
        // hooks; the host's forbidden headers are dropped the same way.
        let (parts, body) = req.into_parts();
        let uri = parts.uri.into_parts();
        let headers =
            accessor.with(|mut s| FieldMap::new_immutable(s.get().http().hooks, parts.headers));
        let (req, io) = wasmtime_wasi_http::p3::Request::new(
            parts.method,
            uri.scheme,
            uri.authority,
            uri.path_and_query,
            headers,
            None,
            body,
        );
        match service.handle(accessor, req).await {
            Ok(Ok(res)) => {
                let res = accessor.with(|mut s| res.into_http(&mut s, io));
                let _ = answer.send(res.map_err(|e| anyhow::anyhow!("response: {e:?}")));
                Ok(())
            }
            Ok(Err(code)) => {
                let _ = answer.send(Err(anyhow::anyhow!(
                    "guest answered with error code {code:?}"
                )));
                Ok(())
            }
            // A trapped instance cannot be entered again: failing the task
            // ends the event loop, and the worker with it.
            Err(e) => {
                let why = format!("trapped: {e:?}");
                lock(&died).get_or_insert_with(|| why.clone());
                let _ = answer.send(Err(anyhow::anyhow!(why)));
                Err(e)
            }
        }
    }
}
