//! Keeps the original request replayable, for `pass-through-on-exception`:
//! if the middleware fails, the host forwards the request as the client sent
//! it to the next hop, body included.
//!
//! The body reaches the guest through a tee that remembers the frames read
//! so far (refcounted `Bytes`, no copies) up to a limit, while the unread
//! rest stays where the host can take it back. A request whose body was read
//! past the limit cannot be replayed.

use crate::http::body::HostBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

/// How much of a request body the host remembers for a replay.
pub const REPLAY_LIMIT: usize = 1024 * 1024;

struct State {
    /// The part of the body nobody has read yet.
    rest: Option<HostBody>,
    /// Data frames read so far, while they fit in [`REPLAY_LIMIT`].
    seen: Vec<Bytes>,
    seen_len: usize,
    /// Set when the body read so far no longer fits: no replay possible.
    overflowed: bool,
    /// Trailers, if the body ended with them.
    trailers: Option<http::HeaderMap>,
    /// Whether the body has been read to its end.
    ended: bool,
}

/// The host's handle on a request whose body goes to the guest through a tee.
#[derive(Clone)]
pub struct Replay {
    parts: Arc<http::request::Parts>,
    state: Arc<Mutex<State>>,
}

/// The body the guest reads: every frame passes through [`Replay`]'s memory.
pub struct TeeBody {
    state: Arc<Mutex<State>>,
}

impl Replay {
    /// Splits `request` into the request the guest gets and the handle that
    /// can replay it.
    pub fn tee(request: http::Request<HostBody>) -> (http::Request<TeeBody>, Replay) {
        let (parts, body) = request.into_parts();
        let state = Arc::new(Mutex::new(State {
            rest: Some(body),
            seen: Vec::new(),
            seen_len: 0,
            overflowed: false,
            trailers: None,
            ended: false,
        }));
        let replay = Replay {
            parts: Arc::new(parts.clone()),
            state: state.clone(),
        };
        (http::Request::from_parts(parts, TeeBody { state }), replay)
    }

    /// The original request, with the frames read so far followed by the
    /// unread rest; `None` if the body read so far exceeded [`REPLAY_LIMIT`].
    /// The tee ends for the guest once this is taken.
    pub fn take(&self) -> Option<http::Request<HostBody>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.overflowed {
            return None;
        }
        let body = ReplayBody {
            seen: std::mem::take(&mut state.seen).into(),
            trailers: state.trailers.take(),
            rest: if state.ended { None } else { state.rest.take() },
        };
        state.ended = true;
        let parts = (*self.parts).clone();
        Some(http::Request::from_parts(parts, body.boxed_unsync()))
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.ended {
            return Poll::Ready(None);
        }
        let Some(rest) = state.rest.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(rest).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if !state.overflowed && state.seen_len + data.len() <= REPLAY_LIMIT {
                        state.seen_len += data.len();
                        state.seen.push(data.clone());
                    } else {
                        state.overflowed = true;
                        state.seen = Vec::new();
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    state.trailers = Some(trailers.clone());
                }
            }
            Poll::Ready(None) => state.ended = true,
            // A failed body cannot be replayed faithfully.
            Poll::Ready(Some(Err(_))) => state.overflowed = true,
            Poll::Pending => {}
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &state.rest {
            Some(rest) if !state.ended => rest.size_hint(),
            _ => SizeHint::with_exact(0),
        }
    }
}

/// A replayed body: the remembered frames, then the unread rest (or the
/// remembered trailers, if the body had ended).
struct ReplayBody {
    seen: VecDeque<Bytes>,
    trailers: Option<http::HeaderMap>,
    rest: Option<HostBody>,
}

impl Body for ReplayBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.seen.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(rest) = self.rest.as_mut() {
            return Pin::new(rest).poll_frame(cx);
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::full;
    use http_body_util::{BodyExt, StreamBody};

    fn request(chunks: Vec<&'static [u8]>) -> http::Request<HostBody> {
        let frames = chunks
            .into_iter()
            .map(|c| Ok::<_, wasmtime_wasi_http::Error>(Frame::data(Bytes::from_static(c))));
        let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
        http::Request::post("http://example.com/upload")
            .body(body)
            .unwrap()
    }

    #[tokio::test]
    async fn replays_what_was_read_followed_by_the_unread_rest() {
        let (guest, replay) = Replay::tee(request(vec![b"ab", b"cd", b"ef"]));
        let mut guest_body = guest.into_body();
        let first = guest_body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap();
        assert_eq!(first, "ab");
        let replayed = replay.take().expect("replayable");
        assert_eq!(replayed.uri(), "http://example.com/upload");
        let bytes = replayed.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "abcdef");
        assert!(
            guest_body.frame().await.is_none(),
            "the tee ends once taken"
        );
    }

    #[tokio::test]
    async fn replays_a_body_read_to_its_end() {
        let (guest, replay) = Replay::tee(http::Request::new(full("hello")));
        let read = guest.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(read, "hello");
        let replayed = replay.take().unwrap().into_body().collect().await.unwrap();
        assert_eq!(replayed.to_bytes(), "hello");
    }

    #[tokio::test]
    async fn refuses_a_body_read_past_the_limit() {
        static BIG: [u8; REPLAY_LIMIT] = [7; REPLAY_LIMIT];
        let (guest, replay) = Replay::tee(request(vec![&BIG, b"x"]));
        let read = guest.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(read.len(), REPLAY_LIMIT + 1);
        assert!(replay.take().is_none());
    }
}
