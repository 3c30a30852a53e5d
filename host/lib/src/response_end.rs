//! The moment a response body has been sent in full: the deferred deadline
//! starts there, so a long or streamed response never eats into it.

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::watch;

/// How the sending of a response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every frame was handed to the connection.
    Complete,
    /// The body failed or the connection dropped it before its end.
    Aborted,
}

/// Reports the end of one response body, once. Dropped without having
/// observed a body to its end, it reports [`BodyEnd::Aborted`].
pub struct EndSignal(watch::Sender<Option<BodyEnd>>);

/// Waits for the end reported by its [`EndSignal`]; clones wait for the same
/// end.
#[derive(Clone)]
pub struct ResponseEnd(watch::Receiver<Option<BodyEnd>>);

/// A signal and the future end it reports, created before the response
/// exists.
pub fn response_end() -> (EndSignal, ResponseEnd) {
    let (tx, rx) = watch::channel(None);
    (EndSignal(tx), ResponseEnd(rx))
}

impl EndSignal {
    /// Wraps `body` so that its end is reported through this signal.
    pub fn observe<B>(self, body: B) -> ObservedBody<B> {
        ObservedBody {
            inner: body,
            end: self,
        }
    }

    /// Records the first end reported; later ones are ignored.
    fn report(&self, value: BodyEnd) {
        self.0.send_if_modified(|slot| {
            if slot.is_none() {
                *slot = Some(value);
                true
            } else {
                false
            }
        });
    }
}

impl ResponseEnd {
    /// Resolves when the body has been sent in full or abandoned; a signal
    /// dropped unreported counts as abandoned.
    pub async fn ended(mut self) -> BodyEnd {
        match self.0.wait_for(Option::is_some).await {
            Ok(end) => end.unwrap_or(BodyEnd::Aborted),
            Err(_) => BodyEnd::Aborted,
        }
    }
}

pin_project! {
    /// A body that reports, once, when it has been sent in full or abandoned.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        end: EndSignal,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            this.end.report(BodyEnd::Aborted);
        }
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.end.report(BodyEnd::Complete),
            Poll::Ready(Some(Err(_))) => this.end.report(BodyEnd::Aborted),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.inner.is_end_stream();
        if ended {
            // hyper may stop polling a body that says it has ended.
            self.end.report(BodyEnd::Complete);
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
