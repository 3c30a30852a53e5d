//! What can go wrong when linking or serving `edge:fetch`.

/// An `edge:fetch` error.
#[derive(Debug)]
pub enum Error {
    /// The linker refused an `edge:fetch` function (it is defined already,
    /// for example).
    Link(wasmtime::Error),
    /// A guest called `edge:fetch/fetch-event` from a task that the store's
    /// [`EdgeFetchCtx`](crate::context::EdgeFetchCtx) attributes to no
    /// request; the call traps.
    OutsideRequest,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Link(error) => write!(f, "cannot add edge:fetch to the linker: {error}"),
            Error::OutsideRequest => f.write_str("edge:fetch called outside of any request"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Link(error) => Some(error.as_ref()),
            Error::OutsideRequest => None,
        }
    }
}
