//! Settings: a TOML file (`--config`) and command-line flags, flags winning,
//! then defaults. Everything an operator can set is here, and `edge-host
//! serve --help` documents each flag.

use crate::ops::geo::{GeoFields, GeoHeaders, GeoPreset};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Flags of `edge-host serve`. Each one overrides the same key of the
/// `--config` file.
#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// The component to serve: a middleware (imports and exports
    /// `wasi:http/handler@0.3.0`) or a complete service (exports it only).
    /// A file, or `oci://host[:port]/repository:tag` (or `@sha256:...`): a
    /// wasm OCI artifact (as `wkg oci push` writes it), pulled at start and
    /// on SIGHUP, its layer digest verified. [config: component]
    pub component: Option<PathBuf>,

    /// A TOML file with any of the settings below (keys in brackets).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to serve HTTP/1.1 and HTTP/2 (h2c) on; port 0 picks a free
    /// port. [config: addr; default 127.0.0.1:8080]
    #[arg(long)]
    pub addr: Option<SocketAddr>,

    /// Address of the admin server (`/metrics`, `/healthz`); off unless set.
    /// [config: admin_addr]
    #[arg(long)]
    pub admin_addr: Option<SocketAddr>,

    /// Next hop of a middleware: an HTTP server, `http://host[:port]`.
    /// Outbound calls to it are always allowed. [config: upstream]
    #[arg(long, conflicts_with = "origin")]
    pub upstream: Option<String>,

    /// Next hop of a middleware: an origin component (exports
    /// `wasi:http/handler@0.3.0`), instantiated next to it for each request;
    /// a file or an `oci://` reference. [config: origin]
    #[arg(long)]
    pub origin: Option<PathBuf>,

    /// Environment variable for the guests, `KEY=VALUE` (repeatable), as
    /// `wasmtime serve --env`; read with `std::env`. [config: [env] table]
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,

    /// Host (or host:port) guests may send outbound HTTP requests to
    /// (repeatable); every other destination is denied.
    /// [config: outbound_allow = [...]]
    #[arg(long = "allow-outbound", value_name = "HOST[:PORT]")]
    pub allow_outbound: Vec<String>,

    /// How long deferred (`wait-until`) tasks may run, counted from the end
    /// of the response body, e.g. `30s`, `500ms`. [config: deferred_timeout;
    /// default 30s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub deferred_timeout: Option<Duration>,

    /// How long the handler may take to produce a response before the host
    /// kills it and answers 504. [config: request_timeout; default 60s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub request_timeout: Option<Duration>,

    /// Most requests served at once; beyond it the host answers 503 with
    /// `Retry-After`. [config: max_concurrent_requests; default 1000]
    #[arg(long)]
    pub max_concurrent_requests: Option<usize>,

    /// Most deferred tasks parked (registered, not settled) at once; beyond
    /// it new requests get 503 and new registrations are refused.
    /// [config: max_parked_tasks; default 10000]
    #[arg(long)]
    pub max_parked_tasks: Option<usize>,

    /// Linear memory one guest instance may grow to, in MiB.
    /// [config: max_memory_mib; default 64]
    #[arg(long)]
    pub max_memory_mib: Option<usize>,

    /// Largest request head (request line and headers) accepted, in bytes;
    /// larger ones get 431. [config: max_header_bytes; default 16384]
    #[arg(long)]
    pub max_header_bytes: Option<usize>,

    /// Largest request body accepted, in bytes; larger ones get 413.
    /// [config: max_body_bytes; default 10485760]
    #[arg(long)]
    pub max_body_bytes: Option<u64>,

    /// How long a client may take to send the request head (slowloris
    /// guard). [config: header_read_timeout; default 10s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub header_read_timeout: Option<Duration>,

    /// On SIGTERM/SIGINT, how long in-flight responses and then deferred
    /// tasks may take to finish, in all, before the connections still open
    /// are closed and the pending tasks reported TIMED OUT.
    /// [config: shutdown_grace; default 30s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub shutdown_grace: Option<Duration>,

    /// Use the pooling instance allocator (pre-reserved slots, fastest
    /// instantiation). [config: pooling; default true]
    #[arg(long)]
    pub pooling: Option<bool>,

    /// Instance slots of the pooling allocator: the most stores alive at
    /// once, parked deferred work included; beyond it requests get 503.
    /// [config: pool_instances; default 1000]
    #[arg(long)]
    pub pool_instances: Option<u32>,

    /// Trust the client-location headers that this platform's proxy or CDN
    /// in front of the host sets, and answer `edge:fetch`'s `geo` (Next.js
    /// `request.geo`) from them; replaces the file's `[geo]`. Without it
    /// (and `[geo]`) guests get no location, since clients can send any
    /// header. [config: [geo] table: preset = "vercel", and/or city,
    /// country, region, latitude, longitude = "<header name>"]
    #[arg(long, value_enum, value_name = "PLATFORM")]
    pub geo_headers: Option<GeoPreset>,

    /// Requests one instance serves before it is replaced. 1 gives every
    /// request a fresh store, so no guest state outlives a request; above 1
    /// (reuse mode, as `wasmtime serve` and Spin do by default) globals and
    /// heap persist between the requests of an instance, which saves the
    /// instantiation. Deferred tasks are still tracked per request.
    /// [config: instance_reuse; default 1]
    #[arg(long)]
    pub instance_reuse: Option<u32>,

    /// In reuse mode, requests one instance handles at once, until each is
    /// answered (answered ones in their deferred phase do not count); a new
    /// one is taken only while the others wait on I/O.
    /// [config: instance_concurrency; default 16]
    #[arg(long)]
    pub instance_concurrency: Option<u32>,

    /// Instances of the served component kept made ahead of requests, so a
    /// request takes a ready one instead of waiting for its instantiation
    /// (one that no request has been in: isolation is kept); at most an
    /// eighth of --pool-instances with pooling; 0 turns it off.
    /// [config: warm_instances; default 2]
    #[arg(long)]
    pub warm_instances: Option<u32>,

    /// Directory for compiled components, so a restart skips compilation.
    /// [config: cache_dir]
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,

    /// An OCI registry (`host[:port]`) to pull `oci://` components from over
    /// plain HTTP (repeatable); registries on loopback always are, every
    /// other one over HTTPS. [config: insecure_registries = [...]]
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// Log format. [config: log_format; default text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_env(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{value}`")),
    }
}

/// The `--config` file. Unknown keys are errors, so a typo is never
/// silently ignored.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct File {
    component: Option<PathBuf>,
    addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    upstream: Option<String>,
    origin: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    outbound_allow: Vec<String>,
    #[serde(default, with = "humantime_option")]
    deferred_timeout: Option<Duration>,
    #[serde(default, with = "humantime_option")]
    request_timeout: Option<Duration>,
    max_concurrent_requests: Option<usize>,
    max_parked_tasks: Option<usize>,
    max_memory_mib: Option<usize>,
    max_header_bytes: Option<usize>,
    max_body_bytes: Option<u64>,
    #[serde(default, with = "humantime_option")]
    header_read_timeout: Option<Duration>,
    #[serde(default, with = "humantime_option")]
    shutdown_grace: Option<Duration>,
    pooling: Option<bool>,
    pool_instances: Option<u32>,
    instance_reuse: Option<u32>,
    instance_concurrency: Option<u32>,
    warm_instances: Option<u32>,
    geo: Option<GeoFields>,
    cache_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
    #[serde(default)]
    insecure_registries: Vec<String>,
}

/// Durations in the file are written as on the command line: `"30s"`.
mod humantime_option {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The resolved settings of `edge-host serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The served component.
    pub component: PathBuf,
    /// Where to serve.
    pub addr: SocketAddr,
    /// Where to serve `/metrics` and `/healthz`.
    pub admin_addr: Option<SocketAddr>,
    /// An HTTP next hop.
    pub upstream: Option<String>,
    /// A component next hop.
    pub origin: Option<PathBuf>,
    /// Guest environment: the file's entries, then the flags'; a flag
    /// replaces the file's value of the same name.
    pub env: Vec<(String, String)>,
    /// Outbound HTTP destinations guests may call.
    pub outbound_allow: Vec<String>,
    /// Deferred-phase deadline, from the response end.
    pub deferred_timeout: Duration,
    /// Handler-phase deadline.
    pub request_timeout: Duration,
    /// Concurrency cap.
    pub max_concurrent_requests: usize,
    /// Cap on parked deferred tasks.
    pub max_parked_tasks: usize,
    /// Per-instance linear memory cap, in bytes.
    pub max_memory_bytes: usize,
    /// Cap on the request head size.
    pub max_header_bytes: usize,
    /// Cap on the request body size.
    pub max_body_bytes: u64,
    /// Slowloris guard.
    pub header_read_timeout: Duration,
    /// Drain time on shutdown.
    pub shutdown_grace: Duration,
    /// Pooling allocator on or off.
    pub pooling: bool,
    /// Pooling allocator slots.
    pub pool_instances: u32,
    /// Requests per instance, over its life and at once.
    pub reuse: Reuse,
    /// Instances kept made ahead of requests.
    pub warm_instances: u32,
    /// The request headers trusted to tell the client's location.
    pub geo: GeoHeaders,
    /// Compiled-component cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Log format.
    pub log_format: LogFormat,
    /// Registries, besides loopback ones, that `oci://` components are
    /// pulled from over plain HTTP: the file's, then the flags'.
    pub insecure_registries: Vec<String>,
}

/// How many requests one instance serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reuse {
    /// Requests over the instance's life.
    pub requests: u32,
    /// Requests at once.
    pub concurrent: u32,
}

impl Reuse {
    /// A fresh store for every request.
    pub const SINGLE: Reuse = Reuse {
        requests: 1,
        concurrent: 1,
    };

    /// Whether an instance serves one request only.
    pub fn is_single(self) -> bool {
        self.requests == 1
    }
}

/// A configuration problem, reported as one line.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads `--config` (if any) and applies the flags over it.
    pub fn resolve(args: ServeArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        // One entry per name, the last given winning: a guest's `getenv`
        // would see the first of two.
        let mut env: Vec<(String, String)> = file.env.into_iter().collect();
        for (name, value) in args.env {
            match env.iter_mut().find(|(known, _)| *known == name) {
                Some(entry) => entry.1 = value,
                None => env.push((name, value)),
            }
        }
        let mut outbound_allow = file.outbound_allow;
        outbound_allow.extend(args.allow_outbound);
        let geo = match args.geo_headers {
            Some(preset) => Some(GeoFields {
                preset: Some(preset),
                ..GeoFields::default()
            }),
            None => file.geo,
        };
        let geo = geo
            .map(|fields| GeoHeaders::from_fields(&fields))
            .transpose()
            .map_err(|e| ConfigError(e.to_string()))?
            .unwrap_or_default();
        let settings = Settings {
            component: args.component.or(file.component).ok_or_else(|| {
                ConfigError(
                    "no component to serve: give it as an argument or `component` in --config"
                        .into(),
                )
            })?,
            addr: args
                .addr
                .or(file.addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            admin_addr: args.admin_addr.or(file.admin_addr),
            upstream: args.upstream.or(file.upstream),
            origin: args.origin.or(file.origin),
            env,
            outbound_allow,
            deferred_timeout: args
                .deferred_timeout
                .or(file.deferred_timeout)
                .unwrap_or(Duration::from_secs(30)),
            request_timeout: args
                .request_timeout
                .or(file.request_timeout)
                .unwrap_or(Duration::from_secs(60)),
            max_concurrent_requests: args
                .max_concurrent_requests
                .or(file.max_concurrent_requests)
                .unwrap_or(1000),
            max_parked_tasks: args
                .max_parked_tasks
                .or(file.max_parked_tasks)
                .unwrap_or(10_000),
            max_memory_bytes: args.max_memory_mib.or(file.max_memory_mib).unwrap_or(64) << 20,
            max_header_bytes: args
                .max_header_bytes
                .or(file.max_header_bytes)
                .unwrap_or(16 * 1024),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(10 << 20),
            header_read_timeout: args
                .header_read_timeout
                .or(file.header_read_timeout)
                .unwrap_or(Duration::from_secs(10)),
            shutdown_grace: args
                .shutdown_grace
                .or(file.shutdown_grace)
                .unwrap_or(Duration::from_secs(30)),
            pooling: args.pooling.or(file.pooling).unwrap_or(true),
            pool_instances: args.pool_instances.or(file.pool_instances).unwrap_or(1000),
            reuse: Reuse {
                requests: args.instance_reuse.or(file.instance_reuse).unwrap_or(1),
                concurrent: args
                    .instance_concurrency
                    .or(file.instance_concurrency)
                    .unwrap_or(16),
            },
            warm_instances: args.warm_instances.or(file.warm_instances).unwrap_or(2),
            geo,
            cache_dir: args.cache_dir.or(file.cache_dir),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            insecure_registries: file
                .insecure_registries
                .into_iter()
                .chain(args.insecure_registries)
                .collect(),
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_concurrent_requests", self.max_concurrent_requests),
            ("max_parked_tasks", self.max_parked_tasks),
            ("max_memory_mib", self.max_memory_bytes),
            ("max_header_bytes", self.max_header_bytes),
            ("pool_instances", self.pool_instances as usize),
            ("instance_reuse", self.reuse.requests as usize),
            ("instance_concurrency", self.reuse.concurrent as usize),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError(format!("{name} must be greater than 0")));
        }
        if self.max_header_bytes < 1024 {
            return Err(ConfigError("max_header_bytes must be at least 1024".into()));
        }
        if self.upstream.is_some() && self.origin.is_some() {
            return Err(ConfigError("upstream and origin exclude each other".into()));
        }
        if self.request_timeout.is_zero() || self.deferred_timeout.is_zero() {
            return Err(ConfigError("timeouts must be greater than 0".into()));
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let message = e.message().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let line = text[..span.start].matches('\n').count() + 1;
                ConfigError(format!("{}:{line}: {message}", path.display()))
            }
            None => ConfigError(format!("{}: {message}", path.display())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file = write(
            r#"
            component = "a.wasm"
            addr = "127.0.0.1:9000"
            deferred_timeout = "5s"
            outbound_allow = ["api.example.com"]
            [env]
            A = "file"
            "#,
        );
        let args = ServeArgs {
            config: Some(file.path().into()),
            addr: Some("127.0.0.1:9001".parse().unwrap()),
            env: vec![
                ("A".into(), "flag".into()),
                ("B".into(), "1".into()),
                ("B".into(), "2".into()),
            ],
            allow_outbound: vec!["127.0.0.1:1".into()],
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(args).unwrap();
        assert_eq!(settings.component, PathBuf::from("a.wasm"));
        assert_eq!(settings.addr.port(), 9001);
        assert_eq!(settings.deferred_timeout, Duration::from_secs(5));
        assert_eq!(settings.request_timeout, Duration::from_secs(60));
        let env: Vec<(&str, &str)> = settings
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("A", "flag"), ("B", "2")]);
        assert_eq!(settings.outbound_allow, ["api.example.com", "127.0.0.1:1"]);
        assert!(settings.pooling);
    }

    #[test]
    fn oci_components_and_insecure_registries_come_from_file_and_flags() {
        let file = write(
            r#"
            component = "oci://registry.internal:5000/edgeware/app:1"
            insecure_registries = ["registry.internal:5000"]
            "#,
        );
        let args = ServeArgs {
            config: Some(file.path().into()),
            origin: Some("oci://127.0.0.1:5000/edgeware/origin@sha256:00".into()),
            insecure_registries: vec!["mirror.internal".into()],
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(args).unwrap();
        assert_eq!(
            settings.component.to_str(),
            Some("oci://registry.internal:5000/edgeware/app:1")
        );
        assert_eq!(
            settings.origin.as_deref().and_then(Path::to_str),
            Some("oci://127.0.0.1:5000/edgeware/origin@sha256:00")
        );
        assert_eq!(
            settings.insecure_registries,
            ["registry.internal:5000", "mirror.internal"]
        );
    }

    #[test]
    fn errors_are_one_line_with_the_place() {
        let file = write("component = \"a.wasm\"\nmax_parked_taks = 5\n");
        let args = ServeArgs {
            config: Some(file.path().into()),
            ..ServeArgs::default()
        };
        let error = Settings::resolve(args).unwrap_err().to_string();
        assert!(error.contains(":2:"), "{error}");
        assert!(error.contains("max_parked_taks"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn geo_is_off_unless_configured_and_the_flag_replaces_the_table() {
        let args = ServeArgs {
            component: Some("a.wasm".into()),
            ..ServeArgs::default()
        };
        assert_eq!(Settings::resolve(args).unwrap().geo, GeoHeaders::default());
        let file = write("component = \"a.wasm\"\n[geo]\ncountry = \"x-country\"\n");
        let from_file = |geo_headers| {
            let args = ServeArgs {
                config: Some(file.path().into()),
                geo_headers,
                ..ServeArgs::default()
            };
            Settings::resolve(args).unwrap().geo
        };
        let mut sent = http::HeaderMap::new();
        sent.insert("x-country", http::HeaderValue::from_static("FR"));
        sent.insert("cf-ipcountry", http::HeaderValue::from_static("DE"));
        let country = |geo: GeoHeaders| geo.read(&sent).and_then(|g| g.country);
        assert_eq!(country(from_file(None)).as_deref(), Some("FR"));
        let flag = from_file(Some(GeoPreset::Cloudflare));
        assert_eq!(country(flag).as_deref(), Some("DE"));
        let file = write("component = \"a.wasm\"\n[geo]\ncountri = \"x\"\n");
        let args = ServeArgs {
            config: Some(file.path().into()),
            ..ServeArgs::default()
        };
        let error = Settings::resolve(args).unwrap_err().to_string();
        assert!(error.contains("countri"), "{error}");
    }

    #[test]
    fn bad_values_are_refused() {
        let file = write("component = \"a.wasm\"\nrequest_timeout = \"soon\"\n");
        let args = ServeArgs {
            config: Some(file.path().into()),
            ..ServeArgs::default()
        };
        assert!(Settings::resolve(args).is_err());
        let args = ServeArgs {
            component: Some("a.wasm".into()),
            max_concurrent_requests: Some(0),
            ..ServeArgs::default()
        };
        let error = Settings::resolve(args).unwrap_err().to_string();
        assert_eq!(error, "max_concurrent_requests must be greater than 0");
    }
}
