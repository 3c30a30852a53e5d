//! The public server: HTTP/1.1 and h2c connections, with the limits at the
//! edge (header size, header-read timeout), each request handed to
//! [`handle`]; and the connections left open when it stops accepting.

use crate::ops::config::Settings;
use crate::server::front::{Front, handle};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// The connections still open once the server stopped accepting.
pub struct Connections {
    graceful: Option<GracefulShutdown>,
    open: OpenConnections,
}

/// Counts the open connections of the public server.
#[derive(Clone, Default)]
pub struct OpenConnections(Arc<AtomicUsize>);

/// Counts one connection open until dropped.
struct Open(OpenConnections);

impl OpenConnections {
    /// How many connections are open.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    fn track(&self) -> Open {
        self.0.fetch_add(1, Ordering::AcqRel);
        Open(self.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connections {
    /// The count of open connections, readable while [`Connections::finish`]
    /// runs.
    pub fn counter(&self) -> OpenConnections {
        self.open.clone()
    }

    /// Tells every connection to finish the response in flight and close
    /// (idle ones close at once); resolves when all have. Unbounded: a
    /// client that stops reading holds its connection open, so the caller
    /// bounds it.
    pub async fn finish(&mut self) {
        if let Some(graceful) = self.graceful.take() {
            graceful.shutdown().await;
        }
    }
}

/// Serves connections from `listener` until `shutdown` resolves, then stops
/// accepting (new connections are refused) and returns the open ones.
pub async fn serve(
    listener: TcpListener,
    front: Arc<Front>,
    settings: &Settings,
    shutdown: impl Future<Output = ()>,
) -> Connections {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let open = OpenConnections::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A response head and its body go out as separate writes: without
        // this, Nagle's algorithm holds the body until the client ACKs the
        // head (a delayed ACK: up to 40 ms per request).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%client, %error, "cannot set TCP_NODELAY");
        }
        let front = front.clone();
        let service = service_fn(move |request| {
            let front = front.clone();
            async move { Ok::<_, Infallible>(handle(&front, request, client).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        let counted = open.track();
        tokio::spawn(async move {
            let _counted = counted;
            if let Err(error) = connection.await {
                tracing::debug!(%client, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    Connections {
        graceful: Some(graceful),
        open,
    }
}
