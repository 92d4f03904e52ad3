//! The routes: one CL call in, the right EL calls out, one answer back.
//!
//! [`call`] dispatches by [`Route`] to one handler per route kind: [`read`] (the primary, with
//! failover), [`merged`] (every EL at once, answers merged), [`voted`] (newPayload and
//! forkchoiceUpdated to every EL, then the vote) and [`build`] (getPayload from the building
//! ELs). Each is a function over the core's state ([`Proxy`]); none holds state of its own.

pub mod build;
mod late;
pub mod merged;
pub mod read;
pub mod voted;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::stream::{self, StreamExt};

use crate::merge;
use crate::proxy::Proxy;
use crate::routing::{route, MethodLabel, Route};
use crate::rpc::{self, Call, Incoming, Item, RpcError};
use crate::vote::Kind;

/// How many elements of one batch are in flight at once.
const BATCH_CONCURRENCY: usize = 16;

/// What one call produced, before the CL's id is put on it. An EL's reply is parsed once, into
/// this; every consumer (the CL's answer, merges, block production) takes it from here.
#[derive(Debug)]
pub enum Out {
    /// Raw JSON of the `result`.
    Result(Bytes),
    Error(RpcError),
    /// An EL's whole response whose id is already the CL's, byte for byte: passed on untouched.
    /// `result` is its `result`, a slice of `body`.
    Verbatim {
        body: Bytes,
        result: Bytes,
    },
    /// The same for a JSON-RPC error response, with its error.
    VerbatimError {
        body: Bytes,
        error: RpcError,
    },
}

impl Out {
    /// The JSON-RPC error code the CL gets, if it gets an error.
    pub fn error_code(&self) -> Option<i64> {
        match self {
            Self::Error(e) | Self::VerbatimError { error: e, .. } => Some(e.code),
            Self::Result(_) | Self::Verbatim { .. } => None,
        }
    }

    /// The raw `result` of a success, or the error.
    pub fn into_result(self) -> Result<Bytes, RpcError> {
        match self {
            Self::Result(result) | Self::Verbatim { result, .. } => Ok(result),
            Self::Error(error) | Self::VerbatimError { error, .. } => Err(error),
        }
    }
}

/// Parses a request body (at most `max_batch` calls in a batch) and answers it. `None` when
/// nothing is to be sent back (notifications).
pub async fn answer<N: Network>(core: &Proxy<N>, body: &Bytes, max_batch: usize) -> Option<Bytes> {
    match rpc::parse(body, max_batch) {
        Ok(incoming) => handle(core, incoming).await,
        Err(error) => {
            core.metrics.request(MethodLabel::INVALID, Some(error.code));
            Some(rpc::error_response(b"null", &error))
        }
    }
}

/// Answers a parsed request body.
pub async fn handle<N: Network>(core: &Proxy<N>, incoming: Incoming) -> Option<Bytes> {
    match incoming {
        Incoming::Single(item) => self::item(core, item).await,
        Incoming::Batch(items) => {
            let parts: Vec<Bytes> = stream::iter(items)
                .map(|item| self::item(core, item))
                .buffered(BATCH_CONCURRENCY)
                .filter_map(|part| async move { part })
                .collect()
                .await;
            (!parts.is_empty()).then(|| rpc::batch_response(&parts))
        }
    }
}

async fn item<N: Network>(core: &Proxy<N>, item: Item) -> Option<Bytes> {
    match item {
        Item::Invalid { id, error } => {
            core.metrics.request(MethodLabel::INVALID, Some(error.code));
            Some(rpc::error_response(
                id.as_deref().unwrap_or(b"null"),
                &error,
            ))
        }
        Item::Call(call) => {
            let out = self::call(core, &call).await;
            core.metrics
                .request(MethodLabel::of(&call.method), out.error_code());
            core.metrics.answered_at(core.clock.unix_seconds());
            call.id.as_ref()?;
            Some(match out {
                Out::Result(result) => rpc::result_response(call.response_id(), &result),
                Out::Error(e) => rpc::error_response(call.response_id(), &e),
                Out::Verbatim { body, .. } | Out::VerbatimError { body, .. } => body,
            })
        }
    }
}

/// Serves one call: the one place a route is chosen. Voted calls are queued on every node
/// before this future first yields, which keeps batch elements in order.
pub async fn call<N: Network>(core: &Proxy<N>, call: &Call) -> Out {
    match route(&call.method) {
        Route::NewPayload => voted::voted(core, call, Kind::NewPayload).await,
        Route::ForkchoiceUpdated => voted::voted(core, call, Kind::ForkchoiceUpdated).await,
        Route::GetPayload => build::get_payload(core, call).await,
        Route::ClientVersion => merged::merged(core, call, merge::concat_arrays).await,
        Route::Capabilities => merged::capabilities(core, call).await,
        Route::BlobsPerIndex => merged::merged(core, call, merge::merge_per_index).await,
        Route::BlobsAllOrNothing => merged::merged(core, call, merge::first_complete).await,
        Route::AnyHas => merged::merged(core, call, merge::any_true).await,
        // Boxed: its future holds a whole failover read and more, and would otherwise grow
        // every call's future (and the bytes moved with it) on the hot path.
        Route::Bodies => Box::pin(merged::bodies(core, call)).await,
        Route::Primary => read::forward(core, call).await,
        Route::Refused => Out::Error(RpcError::method_not_found(&call.method)),
    }
}
