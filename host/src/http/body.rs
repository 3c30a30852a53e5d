//! Response bodies whose end the host can observe: the deferred phase starts
//! when the last frame has been handed to the connection (or the client went
//! away), and that moment is also the transmission result the guest sees.

use crate::deferred::drain::Admitted;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::watch;

/// The body type of every response the host sends.
pub type HostBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// How the sending of a response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every frame was handed to the connection.
    Complete,
    /// The body failed or the connection dropped it before its end.
    Aborted,
}

/// Where [`ObservedBody`] reports the end of the body.
pub type EndSender = watch::Sender<Option<BodyEnd>>;

/// Creates the channel through which a response body reports its end.
pub fn end_channel() -> (EndSender, watch::Receiver<Option<BodyEnd>>) {
    watch::channel(None)
}

/// Waits for the end of the body observed through `rx`. A dropped sender
/// counts as an aborted body.
pub async fn body_end(mut rx: watch::Receiver<Option<BodyEnd>>) -> BodyEnd {
    match rx.wait_for(Option::is_some).await {
        Ok(end) => end.unwrap_or(BodyEnd::Aborted),
        Err(_) => BodyEnd::Aborted,
    }
}

pin_project! {
    /// A body that reports, once, when it has been sent in full or abandoned.
    pub struct ObservedBody {
        #[pin]
        inner: HostBody,
        end: EndSender,
        // Holds the request's place in the gate until the body is done.
        _admitted: Option<Admitted>,
    }

    impl PinnedDrop for ObservedBody {
        fn drop(this: Pin<&mut Self>) {
            report(&this.end, BodyEnd::Aborted);
        }
    }
}

impl ObservedBody {
    /// Wraps `inner`; its end is sent on `end`, and `admitted` is released
    /// with the body.
    pub fn new(inner: HostBody, end: EndSender, admitted: Option<Admitted>) -> Self {
        Self {
            inner,
            end,
            _admitted: admitted,
        }
    }
}

/// Records the first end reported; later ones are ignored.
fn report(end: &EndSender, value: BodyEnd) {
    end.send_if_modified(|slot| {
        if slot.is_none() {
            *slot = Some(value);
            true
        } else {
            false
        }
    });
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(None) => report(this.end, BodyEnd::Complete),
            Poll::Ready(Some(Err(_))) => report(this.end, BodyEnd::Aborted),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.inner.is_end_stream();
        if ended {
            // hyper may stop polling a body that says it has ended.
            report(&self.end, BodyEnd::Complete);
        }
        ended
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
