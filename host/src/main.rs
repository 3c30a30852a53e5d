//! `edge-host`: serves a WASI 0.3 HTTP middleware component and settles the
//! tasks it registers through `edge:fetch/wait-until` after each response.

mod check;
mod deferred;
mod engine;
mod http;
mod ops;
mod server;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use engine::runtime::{Runtime, Shared};
use ops::config::{LogFormat, ServeArgs, Settings};
use server::front::Front;
use server::readiness::Readiness;
use server::shutdown::Stopped;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};
use wasmtime::Engine;

/// Serve WASI 0.3 HTTP middleware components with Next.js-style `waitUntil`:
/// deferred tasks settle after the response has been sent.
#[derive(Parser)]
#[command(name = "edge-host", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a component over HTTP. SIGTERM/SIGINT drain gracefully (a second
    /// one exits at once); SIGHUP reloads the component files.
    Serve(Box<ServeArgs>),
    /// Report which hosts can run a component, what each lacks, and the
    /// command that fixes it; exits 1 if `--target` cannot run it, 2 if the
    /// file is not a component.
    Check(check::CheckArgs),
}

/// Guests allocate and free many small buffers per request (headers,
/// resource-table entries, futures); mimalloc's thread-local heaps do that
/// with fewer instructions than glibc's arenas and take no lock between the
/// runtime's worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad configuration or a component that cannot be served.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let args = match cli.command {
        Command::Serve(args) => *args,
        Command::Check(args) => {
            return match check::run(&args) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(error) => {
                    eprintln!("edge-host check: {error:#}");
                    ExitCode::from(EXIT_CONFIG)
                }
            };
        }
    };
    let settings = match Settings::resolve(args) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("edge-host: error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("edge-host: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stopped = runtime.block_on(serve(settings));
    // Tasks still running (a stalled connection, an abandoned store) are
    // not waited for: everything left has been reported.
    runtime.shutdown_background();
    match stopped {
        Ok(Stopped::Drained) => ExitCode::SUCCESS,
        Ok(Stopped::Forced) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("edge-host: error: {error:#}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// Prints a command-line error as one `edge-host: error: ...` line and
/// returns clap's exit code for it (2 for usage errors); `--help` and
/// `--version` print as usual.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
        }
        _ => eprintln!(
            "edge-host: error: {}",
            one_line(&error.render().to_string())
        ),
    }
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_CONFIG))
}

/// clap's message on one line: without its `error: ` prefix and its usage
/// and `--help` lines, the rest (tips, possible values) joined with `; `;
/// then where to look.
fn one_line(message: &str) -> String {
    let parts: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty()
                && !line.starts_with("Usage:")
                && !line.starts_with("For more information")
        })
        .collect();
    let text = parts.join("; ");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("{text} (see --help)")
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

/// Starts everything; returns when a shutdown signal has been handled and
/// the drain is over (or was cut short). Errors are start-up errors.
async fn serve(settings: Settings) -> anyhow::Result<Stopped> {
    let engine = engine::compile::engine(&settings).map_err(anyhow::Error::from)?;
    let shared = Shared::new();
    let local = ops::oci::resolve(&settings).await?;
    let runtime = Runtime::load(&engine, &local, shared.clone())?;
    let front = Arc::new(Front::new(runtime, &settings));
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let readiness = Readiness::new();
    readiness.accepting();
    if let Some(admin_addr) = settings.admin_addr {
        let admin = tokio::net::TcpListener::bind(admin_addr)
            .await
            .with_context(|| format!("cannot listen on {admin_addr} (admin)"))?;
        let admin_addr = admin.local_addr()?;
        tracing::info!(%admin_addr, "admin server: /metrics, /healthz, /readyz");
        println!("edge-host admin on http://{admin_addr}/");
        tokio::spawn(server::admin::serve(
            admin,
            shared.metrics.clone(),
            readiness.clone(),
        ));
    }
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        pooling = settings.pooling,
        pool_instances = settings.pool_instances,
        "listening"
    );
    println!("edge-host listening on http://{addr}/");

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(reload_on_hangup(
        signal(SignalKind::hangup())?,
        engine,
        settings.clone(),
        shared.clone(),
        front.clone(),
    ));
    let first_signal = async {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        // Not ready from this moment on; live until the process exits.
        readiness.draining();
        tracing::info!("{name}: shutting down");
    };
    let connections =
        server::listener::serve(listener, front.clone(), &settings, first_signal).await;
    let second_signal = async {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    };
    let stopped = server::shutdown::run(
        connections,
        &front.drain,
        settings.shutdown_grace,
        second_signal,
    )
    .await;
    log_totals(&shared);
    Ok(stopped)
}

/// The last line before exit: what happened to every deferred task.
fn log_totals(shared: &Shared) {
    let c = shared.metrics.deferred();
    tracing::info!(
        registered = c.registered,
        fulfilled = c.fulfilled,
        rejected = c.rejected,
        timed_out = c.timed_out,
        in_flight = c.in_flight,
        "stopped: deferred task totals"
    );
}

/// On each SIGHUP, loads the component files again (pulling `oci://` ones
/// anew); new requests go to the
/// new version, in-flight ones finish on the old. A version that fails to
/// load is logged and the old one keeps serving.
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    engine: Engine,
    settings: Settings,
    shared: Arc<Shared>,
    front: Arc<Front>,
) {
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading {}", settings.component.display());
        // `oci://` components are pulled again: a tag may have moved.
        let settings_for_load = match ops::oci::resolve(&settings).await {
            Ok(local) => local,
            Err(error) => {
                tracing::error!(%error, "reload failed; the previous version keeps serving");
                continue;
            }
        };
        let (engine, shared_for_load) = (engine.clone(), shared.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            Runtime::load(&engine, &settings_for_load, shared_for_load)
        })
        .await;
        match loaded {
            Ok(Ok(runtime)) => {
                front.replace(runtime);
                shared.metrics.reloaded();
                tracing::info!("reloaded: new requests use the new version");
            }
            Ok(Err(error)) => tracing::error!(
                error = format!("{error:#}"),
                "reload failed; the previous version keeps serving"
            ),
            Err(error) => tracing::error!(%error, "reload task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_errors_become_one_line() {
        let error = Cli::try_parse_from(["edge-host", "serve", "--request-timeout", "abc"])
            .err()
            .unwrap();
        assert_eq!(error.exit_code(), 2);
        let line = one_line(&error.render().to_string());
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("invalid value 'abc' for '--request-timeout"),
            "{line}"
        );
        assert!(line.ends_with("(see --help)"), "{line}");
        let error = Cli::try_parse_from(["edge-host", "serve", "--pooling", "maybe"])
            .err()
            .unwrap();
        let line = one_line(&error.render().to_string());
        assert!(line.contains("; [possible values: true, false]"), "{line}");
    }
}
