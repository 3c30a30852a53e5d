//! Response bodies whose end the host can observe: the deferred phase starts
//! when the last frame has been handed to the connection (or the client went
//! away), and that moment is also the transmission result the guest sees.

use crate::http::admission::Admitted;
use bytes::Bytes;
use edge_fetch_host::EndSignal;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The body type of every response the host sends.
pub type HostBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

pin_project! {
    /// A response body that reports, once, when it has been sent in full or
    /// abandoned, and holds the request's place in the gate until then.
    pub struct ObservedBody {
        #[pin]
        inner: edge_fetch_host::ObservedBody<HostBody>,
        // Dropped after `inner`, which reports the end first.
        _admitted: Option<Admitted>,
    }
}

impl ObservedBody {
    /// Wraps `inner`; its end is reported through `end`, and `admitted` is
    /// released with the body.
    pub fn new(inner: HostBody, end: EndSignal, admitted: Option<Admitted>) -> Self {
        Self {
            inner: end.observe(inner),
            _admitted: admitted,
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> HostBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
