//! WASI 0.2 components (`wasi:http/incoming-handler@0.2.0`): a fresh instance
//! per request, as Spin runs them. Nothing survives from one request to the
//! next except what the host keeps ([`crate::SpinState`]).

use crate::{into_response, Response, SpinHost};
use bytes::Bytes;
use http_body_util::Full;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpView;

/// Sends one request through `wasi:http/incoming-handler` of a new instance.
pub(crate) fn request(
    host: &SpinHost,
    pre: &ProxyPre<crate::State>,
    req: hyper::Request<Full<Bytes>>,
) -> anyhow::Result<Response> {
    let mut store = host.new_store(pre.engine())?;
    let pre = pre.clone();
    host.rt.block_on(async move {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        let response = match receiver.await {
            Ok(Ok(resp)) => resp,
            Ok(Err(code)) => anyhow::bail!("guest answered with error code {code:?}"),
            Err(_) => {
                let why = match task.await {
                    Ok(Ok(())) => "returned without a response".to_string(),
                    Ok(Err(e)) => format!("trapped: {e:?}"),
                    Err(e) => format!("task failed: {e}"),
                };
                anyhow::bail!("guest never set a response: {why}")
            }
        };
        let response = into_response(response).await?;
        // The guest may still be logging after the body ended.
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => anyhow::bail!("guest trapped after responding: {e:?}"),
            Err(e) => anyhow::bail!("guest task failed: {e}"),
        }
        Ok(response)
    })
}
