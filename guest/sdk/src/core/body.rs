//! Request and response bodies.

use std::fmt;
#[cfg(any(target_arch = "wasm32", test))]
use std::{any::Any, future::Future, pin::Pin};

use super::error::{Error, Result};

/// The body of a [`Request`](crate::Request) or [`Response`](crate::Response).
///
/// A body is empty, a buffer of bytes, or (inside a component) the incoming
/// stream of the request or response being handled. An incoming stream is
/// passed on untouched, without buffering, when the body is forwarded to the
/// next handler or returned to the host; [`Body::bytes`] and [`Body::text`]
/// read it to the end instead.
pub struct Body(Inner);

pub(crate) enum Inner {
    Empty,
    Bytes(Vec<u8>),
    #[cfg(any(target_arch = "wasm32", test))]
    Stream(Box<dyn BodyStream>),
}

/// A body that arrives as a stream, provided by the host bindings.
#[cfg(any(target_arch = "wasm32", test))]
pub(crate) trait BodyStream: Any {
    /// Reads the stream to its end.
    fn collect(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>>>>;
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self(Inner::Empty)
    }

    /// A body that streams from `stream`.
    #[cfg(any(target_arch = "wasm32", test))]
    pub(crate) fn from_stream(stream: impl BodyStream) -> Self {
        Self(Inner::Stream(Box::new(stream)))
    }

    #[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
    pub(crate) fn into_inner(self) -> Inner {
        self.0
    }

    /// Whether the body is known to be empty without reading it.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Inner::Empty => true,
            Inner::Bytes(bytes) => bytes.is_empty(),
            #[cfg(any(target_arch = "wasm32", test))]
            Inner::Stream(_) => false,
        }
    }

    /// Reads the whole body into memory.
    ///
    /// Fails if the incoming stream ends with an error (for example because
    /// the client went away).
    pub async fn bytes(self) -> Result<Vec<u8>> {
        match self.0 {
            Inner::Empty => Ok(Vec::new()),
            Inner::Bytes(bytes) => Ok(bytes),
            #[cfg(any(target_arch = "wasm32", test))]
            Inner::Stream(stream) => stream.collect().await,
        }
    }

    /// Reads the whole body into memory as UTF-8 text.
    ///
    /// Fails like [`Body::bytes`], or if the body is not valid UTF-8.
    pub async fn text(self) -> Result<String> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes).map_err(|e| Error::from(e).context("body is not UTF-8 text"))
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Inner::Bytes(bytes))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Self(Inner::Bytes(bytes.to_vec()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self(Inner::Bytes(text.into_bytes()))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self(Inner::Bytes(text.as_bytes().to_vec()))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Empty => f.write_str("Body::Empty"),
            Inner::Bytes(bytes) => write!(f, "Body::Bytes({} bytes)", bytes.len()),
            #[cfg(any(target_arch = "wasm32", test))]
            Inner::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_util::block_on;

    struct Chunks(Vec<&'static [u8]>, Option<&'static str>);

    impl BodyStream for Chunks {
        fn collect(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>>>> {
            Box::pin(async move {
                match self.1 {
                    Some(failure) => Err(Error::msg(failure)),
                    None => Ok(self.0.concat()),
                }
            })
        }
    }

    #[test]
    fn buffered_bodies() {
        assert!(Body::empty().is_empty());
        assert!(Body::from("").is_empty());
        assert!(!Body::from("hi").is_empty());
        assert_eq!(block_on(Body::from("hi").bytes()).unwrap(), b"hi");
        assert_eq!(block_on(Body::from(vec![1, 2]).bytes()).unwrap(), [1, 2]);
        assert_eq!(block_on(Body::default().text()).unwrap(), "");
        assert_eq!(block_on(Body::from(String::from("é")).text()).unwrap(), "é");
        assert_eq!(
            format!("{:?}", Body::from(&b"abc"[..])),
            "Body::Bytes(3 bytes)"
        );
    }

    #[test]
    fn streamed_bodies_are_collected() {
        let body = Body::from_stream(Chunks(vec![b"he", b"llo"], None));
        assert!(!body.is_empty());
        assert_eq!(format!("{body:?}"), "Body::Stream");
        assert_eq!(block_on(body.text()).unwrap(), "hello");

        let body = Body::from_stream(Chunks(vec![b"he"], Some("connection reset")));
        assert_eq!(
            block_on(body.bytes()).unwrap_err().to_string(),
            "connection reset"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let err = block_on(Body::from(vec![0xc3, 0x28]).text()).unwrap_err();
        assert!(
            err.to_string().starts_with("body is not UTF-8 text: "),
            "{err}"
        );
    }
}
