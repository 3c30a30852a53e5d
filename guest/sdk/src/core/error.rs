//! The SDK's error type.

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The error type of everything in `edgeware`, and of middleware handlers.
///
/// Like `anyhow::Error`, any [`std::error::Error`] converts into it with `?`;
/// the original error stays available through [`Error::downcast_ref`] (for
/// example the `wasi:http` `error-code` behind a failed [`NextHop::run`] or
/// [`fetch`]). On top of that an `Error` may carry the HTTP status that best
/// describes it, when one is known.
///
/// [`NextHop::run`]: crate::NextHop::run
/// [`fetch`]: crate::fetch
pub struct Error {
    message: String,
    status: Option<StatusCode>,
    source: Option<BoxError>,
}

/// `Result<T, edgeware::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message and no HTTP status.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            status: None,
            source: None,
        }
    }

    /// An error with an HTTP status and a message.
    pub fn new(status: StatusCode, message: impl fmt::Display) -> Self {
        Self::msg(message).with_status(status)
    }

    /// Wraps `source` and records the HTTP status that describes it.
    pub fn from_source(status: StatusCode, source: impl StdError + Send + Sync + 'static) -> Self {
        Self::from(source).with_status(status)
    }

    /// Replaces the HTTP status of this error.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Prefixes the message with `context` (`"{context}: {message}"`),
    /// keeping the status and the wrapped source.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The HTTP status that describes this error, if known.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The message, including any context added with [`Error::context`].
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The wrapped error, if this error was converted from one and it is an `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.source.as_deref()?.downcast_ref::<E>()
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        Self {
            message: error.to_string(),
            status: None,
            source: Some(Box::new(error)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("message", &self.message);
        if let Some(status) = self.status {
            d.field("status", &status);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Upstream(u8);

    impl fmt::Display for Upstream {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "upstream failed with {}", self.0)
        }
    }

    impl StdError for Upstream {}

    fn fails() -> Result<()> {
        Err(Upstream(7))?;
        Ok(())
    }

    #[test]
    fn question_mark_wraps_std_errors() {
        let err = fails().unwrap_err();
        assert_eq!(err.to_string(), "upstream failed with 7");
        assert_eq!(err.status(), None);
        assert_eq!(err.downcast_ref::<Upstream>(), Some(&Upstream(7)));
        assert!(err.downcast_ref::<std::io::Error>().is_none());
    }

    #[test]
    fn status_and_context() {
        let err = Error::new(StatusCode::UNAUTHORIZED, "no token").context("auth");
        assert_eq!(err.message(), "auth: no token");
        assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));

        let err = Error::from_source(StatusCode::BAD_GATEWAY, Upstream(1)).context("next");
        assert_eq!(err.to_string(), "next: upstream failed with 1");
        assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
        assert_eq!(err.downcast_ref::<Upstream>(), Some(&Upstream(1)));
    }

    #[test]
    fn converts_from_common_sources() {
        let utf8 = String::from_utf8(vec![0xff]).unwrap_err();
        let err = Error::from(utf8);
        assert!(err.to_string().contains("utf-8"), "{err}");

        let http = http::Response::builder().status(1000).body(()).unwrap_err();
        assert!(Error::from(http).downcast_ref::<http::Error>().is_some());
    }

    #[test]
    fn debug_shows_status_and_source() {
        let err = Error::from_source(StatusCode::GATEWAY_TIMEOUT, Upstream(3));
        let debug = format!("{err:?}");
        assert!(debug.contains("504"), "{debug}");
        assert!(debug.contains("Upstream(3)"), "{debug}");
    }
}
