//! Bodies as `wasi:http` streams: [`IncomingBody`] wraps a received body,
//! [`OutgoingBody`] turns a [`Body`] into what `request.new` and
//! `response.new` take.

use std::future::Future;
use std::pin::Pin;

use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderValue};
use wit_bindgen::{FutureReader, FutureWriter, StreamReader, spawn_local};

use super::bindings::wasi::http::types::{ErrorCode, Fields};
use super::bindings::{wit_future, wit_stream};
use super::convert::error_from_code;
use crate::core::body::{BodyStream, Inner};
use crate::core::latch::Latch;
use crate::{Body, Error, Result};

type Trailers = FutureReader<Result<Option<Fields>, ErrorCode>>;
type Transmission = FutureReader<Result<(), ErrorCode>>;
type TransmissionReport = FutureWriter<Result<(), ErrorCode>>;

/// A received body: what `consume-body` returned, plus the writer through
/// which we tell the sender how handling the body went.
pub(super) struct IncomingBody {
    contents: StreamReader<u8>,
    trailers: Trailers,
    report: TransmissionReport,
}

impl IncomingBody {
    /// A future for the `res` parameter of `consume-body`, and the writer
    /// that settles it (with `Ok` if dropped).
    pub(super) fn report_channel() -> (TransmissionReport, Transmission) {
        wit_future::new(|| Ok(()))
    }

    pub(super) fn new(
        contents: StreamReader<u8>,
        trailers: Trailers,
        report: TransmissionReport,
    ) -> Self {
        Self {
            contents,
            trailers,
            report,
        }
    }
}

impl BodyStream for IncomingBody {
    fn collect(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>>>> {
        Box::pin(async move {
            let Self {
                contents,
                trailers,
                report,
            } = *self;
            let bytes = contents.collect().await;
            // The trailers resolve once the stream is closed and tell whether
            // the body arrived whole.
            let outcome = trailers.await;
            drop(report);
            match outcome {
                Ok(_) => Ok(bytes),
                Err(code) => Err(error_from_code(code).context("reading the body failed")),
            }
        })
    }
}

/// A [`Body`] lowered to the `contents` and `trailers` arguments of
/// `request.new` / `response.new`.
pub(super) struct OutgoingBody {
    contents: Option<StreamReader<u8>>,
    trailers: Trailers,
    /// For a body passed through: where its sender learns the outcome.
    report: Option<TransmissionReport>,
    /// The length of a non-empty body written from memory.
    len: Option<usize>,
    /// Opened once the SDK has nothing more to write: at once for an empty
    /// or passed-through body, at the end of writing for one from memory.
    written: Latch,
}

impl OutgoingBody {
    pub(super) fn new(body: Body) -> Result<Self> {
        match body.into_inner() {
            Inner::Empty => Ok(Self::buffered(None)),
            Inner::Bytes(bytes) if bytes.is_empty() => Ok(Self::buffered(None)),
            Inner::Bytes(bytes) => Ok(Self::buffered(Some(bytes))),
            Inner::Stream(stream) => {
                let stream: Box<dyn std::any::Any> = stream;
                let incoming = stream
                    .downcast::<IncomingBody>()
                    .map_err(|_| Error::msg("unsupported body stream"))?;
                let IncomingBody {
                    contents,
                    trailers,
                    report,
                } = *incoming;
                Ok(Self {
                    contents: Some(contents),
                    trailers,
                    report: Some(report),
                    len: None,
                    written: opened(),
                })
            }
        }
    }

    /// A body from memory, written by a task of its own (writing inline
    /// would wait for a reader that only exists once we have returned).
    fn buffered(bytes: Option<Vec<u8>>) -> Self {
        let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
        let Some(bytes) = bytes else {
            // No contents: dropping the writer settles the trailers with
            // their default, `Ok(None)`.
            drop(trailers_tx);
            return Self {
                contents: None,
                trailers,
                report: None,
                len: None,
                written: opened(),
            };
        };
        let len = Some(bytes.len());
        let (mut contents_tx, contents) = wit_stream::new();
        let written = Latch::default();
        let done = written.clone();
        spawn_local(async move {
            // A reader that went away leaves bytes unwritten; nobody is left
            // to tell.
            let _unwritten = contents_tx.write_all(bytes).await;
            drop(contents_tx);
            let _ = trailers_tx.write(Ok(None)).await;
            done.open();
        });
        Self {
            contents: Some(contents),
            trailers,
            report: None,
            len,
            written,
        }
    }

    /// Sets `content-length` for a body written from memory, unless the
    /// headers already have one: many servers refuse chunked uploads.
    pub(super) fn set_content_length(&self, headers: &mut HeaderMap) {
        if let Some(len) = self.len {
            headers
                .entry(CONTENT_LENGTH)
                .or_insert_with(|| HeaderValue::from(len));
        }
    }

    /// The `contents` and `trailers` arguments, and a [`Sent`] to hand the
    /// transmission future that the constructor returns.
    pub(super) fn into_parts(self) -> (Option<StreamReader<u8>>, Trailers, Sent) {
        let sent = Sent {
            report: self.report,
            written: self.written,
        };
        (self.contents, self.trailers, sent)
    }
}

fn opened() -> Latch {
    let latch = Latch::default();
    latch.open();
    latch
}

/// Completes an [`OutgoingBody`] once it has been given to `request.new` or
/// `response.new`.
pub(super) struct Sent {
    report: Option<TransmissionReport>,
    written: Latch,
}

impl Sent {
    /// Relays `transmission` (the outcome of sending the new request or
    /// response) to the original sender of a passed-through body.
    pub(super) fn report(self, transmission: Transmission) {
        if let Some(report) = self.report {
            spawn_local(relay(transmission, report));
        }
    }

    /// Like [`report`](Self::report), for a response: resolves once the
    /// host has reported the transmission and the SDK has written the whole
    /// body, i.e. when the response has been sent.
    pub(super) async fn delivered(self, transmission: Transmission) {
        let outcome = transmission.await;
        if let Some(report) = self.report {
            // On a task of its own: a sender that never reads its report
            // must not hold up the caller.
            spawn_local(async move {
                let _ = report.write(outcome).await;
            });
        }
        self.written.opened().await;
    }
}

async fn relay(transmission: Transmission, report: TransmissionReport) {
    let outcome = transmission.await;
    let _ = report.write(outcome).await;
}
