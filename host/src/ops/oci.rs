//! Components from OCI registries. `oci://host[:port]/repository:tag` (or
//! `...@sha256:<digest>`) names a wasm OCI artifact, the layout `wkg oci
//! push` writes: an OCI image manifest whose config is
//! `application/vnd.wasm.config.v0+json` and whose one layer, the
//! component, is `application/wasm`. [`pull`] fetches it with `oci-client`,
//! checks that layout, verifies the layer against its digest, logs both
//! digests and writes the component to a local file the runtime loads.
//!
//! Registries on loopback are reached over plain HTTP; any other over HTTPS
//! unless the operator names it as insecure (`--insecure-registry`).
//! Credentials, if the registry needs them, come from the environment
//! (`EDGE_HOST_OCI_USERNAME`, `EDGE_HOST_OCI_PASSWORD`); otherwise the pull
//! is anonymous.

use super::config::Settings;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The scheme of a component reference to pull.
pub const SCHEME: &str = "oci://";
/// The config media type of a wasm OCI artifact.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The media type of its layer, the component.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The environment variables with registry credentials.
pub const USERNAME_VAR: &str = "EDGE_HOST_OCI_USERNAME";
/// See [`USERNAME_VAR`].
pub const PASSWORD_VAR: &str = "EDGE_HOST_OCI_PASSWORD";

/// Why a component could not be pulled. Each one displays as one line.
#[derive(Debug)]
pub enum PullError {
    /// Not `oci://host[:port]/repository(:tag|@digest)`.
    Reference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Only one of the two credential variables is set.
    Credentials,
    /// The registry refused or failed a request (missing tag, unknown
    /// digest, no such repository, unreachable, ...).
    Registry {
        /// The reference.
        reference: String,
        /// The client's error, on one line.
        error: String,
    },
    /// The artifact is not a wasm OCI artifact with one component layer.
    NotWasm {
        /// The reference.
        reference: String,
        /// What the manifest has instead.
        found: String,
    },
    /// The layer's bytes do not match the digest its manifest names.
    Digest {
        /// The reference.
        reference: String,
        /// The digest in the manifest.
        expected: String,
        /// What the check found.
        actual: String,
    },
    /// The pulled component could not be written to disk.
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

impl std::fmt::Display for PullError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PullError::Reference { reference, reason } => write!(
                f,
                "`{reference}` is not an oci://host[:port]/repository:tag reference: {reason}"
            ),
            PullError::Credentials => {
                write!(f, "set both {USERNAME_VAR} and {PASSWORD_VAR}, or neither")
            }
            PullError::Registry { reference, error } => {
                write!(f, "cannot pull {reference}: {error}")
            }
            PullError::NotWasm { reference, found } => {
                write!(f, "{reference} is not a wasm component artifact: {found}")
            }
            PullError::Digest {
                reference,
                expected,
                actual,
            } => write!(
                f,
                "{reference}: layer digest mismatch: the manifest names {expected}; {actual}"
            ),
            PullError::Write { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for PullError {}

/// An error of the client as one line: its sources joined with `: ` (each
/// only once), whitespace runs (a registry's message may span lines) as one
/// space.
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The reference of `path` if it is an `oci://` one.
pub fn oci_reference(path: &Path) -> Option<&str> {
    path.to_str().filter(|s| s.starts_with(SCHEME))
}

/// Whether `registry` (`host[:port]`) is on this machine.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses `oci://host[:port]/repository(:tag|@digest)`; the registry must
/// be explicit (no Docker Hub default).
fn parse(reference: &str) -> Result<Reference, PullError> {
    let invalid = |reason: String| PullError::Reference {
        reference: reference.to_string(),
        reason,
    };
    let bare = reference
        .strip_prefix(SCHEME)
        .ok_or_else(|| invalid(format!("it does not start with {SCHEME}")))?;
    let Some((registry, rest)) = bare.split_once('/') else {
        return Err(invalid("it names no repository".into()));
    };
    if registry.is_empty() || rest.is_empty() {
        return Err(invalid("it names no registry or no repository".into()));
    }
    let parsed: Reference = bare.parse().map_err(|e| invalid(format!("{e}")))?;
    if parsed.registry() != registry {
        return Err(invalid(format!(
            "its registry would be {}",
            parsed.registry()
        )));
    }
    Ok(parsed)
}

fn credentials() -> Result<RegistryAuth, PullError> {
    match (std::env::var(USERNAME_VAR), std::env::var(PASSWORD_VAR)) {
        (Ok(user), Ok(password)) => Ok(RegistryAuth::Basic(user, password)),
        (Err(_), Err(_)) => Ok(RegistryAuth::Anonymous),
        _ => Err(PullError::Credentials),
    }
}

/// Pulls the component `reference` names into `dir` (created if needed),
/// as `<layer sha256>.wasm`, and returns that file; the digests are logged.
/// `insecure` lists registries (`host[:port]`), besides loopback ones, to
/// reach over plain HTTP.
pub async fn pull(reference: &str, insecure: &[String], dir: &Path) -> Result<PathBuf, PullError> {
    let started = Instant::now();
    let image = parse(reference)?;
    let auth = credentials()?;
    let registry = image.registry().to_string();
    let mut plain_http: Vec<String> = insecure.to_vec();
    if is_loopback(&registry) {
        plain_http.push(registry.clone());
    }
    // HTTPS goes through rustls; the process-wide crypto provider is ring
    // (installing it again is a no-op error, ignored).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain_http),
        ..ClientConfig::default()
    });
    let registry_error = |error: oci_client::errors::OciDistributionError| PullError::Registry {
        reference: reference.to_string(),
        error: one_line(&error),
    };
    let (manifest, manifest_digest) = client
        .pull_image_manifest(&image, &auth)
        .await
        .map_err(registry_error)?;
    let not_wasm = |found: String| PullError::NotWasm {
        reference: reference.to_string(),
        found,
    };
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(not_wasm(format!(
            "config media type {}",
            manifest.config.media_type
        )));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(not_wasm(format!(
            "{} layers, not one",
            manifest.layers.len()
        )));
    };
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        return Err(not_wasm(format!("layer media type {}", layer.media_type)));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0));
    client
        .pull_blob(&image, layer, &mut bytes)
        .await
        .map_err(|source| match source {
            oci_client::errors::OciDistributionError::DigestError(error) => PullError::Digest {
                reference: reference.to_string(),
                expected: layer.digest.clone(),
                actual: one_line(&error),
            },
            source => registry_error(source),
        })?;
    // The client checks the digest as the bytes arrive; checked here too, so
    // what is written is exactly what the manifest names.
    let actual = format!("sha256:{:x}", Sha256::digest(&bytes));
    if actual != layer.digest {
        return Err(PullError::Digest {
            reference: reference.to_string(),
            expected: layer.digest.clone(),
            actual: format!("the registry sent {actual}"),
        });
    }
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error| PullError::Write { path, error }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let hex = actual.trim_start_matches("sha256:");
    let path = dir.join(format!("{hex}.wasm"));
    let partial = dir.join(format!("{hex}.wasm.{}.partial", std::process::id()));
    std::fs::write(&partial, &bytes).map_err(write_error(&partial))?;
    std::fs::rename(&partial, &path).map_err(write_error(&path))?;
    tracing::info!(
        reference,
        manifest_digest,
        layer_digest = %actual,
        bytes = bytes.len(),
        ms = started.elapsed().as_millis() as u64,
        "pulled component: layer digest verified"
    );
    Ok(path)
}

/// Where pulled components are written: `<cache_dir>/oci`, else a
/// directory under the system's temporary one.
fn pull_dir(settings: &Settings) -> PathBuf {
    match &settings.cache_dir {
        Some(cache) => cache.join("oci"),
        None => std::env::temp_dir().join("edge-host-oci"),
    }
}

/// `settings` with every `oci://` component (`component`, `origin`) pulled
/// and replaced by its local file; files stay as they are.
pub async fn resolve(settings: &Settings) -> Result<Settings, PullError> {
    let mut resolved = settings.clone();
    let dir = pull_dir(settings);
    if let Some(reference) = oci_reference(&settings.component) {
        resolved.component = pull(reference, &settings.insecure_registries, &dir).await?;
    }
    if let Some(reference) = settings.origin.as_deref().and_then(oci_reference) {
        resolved.origin = Some(pull(reference, &settings.insecure_registries, &dir).await?);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let image = parse("oci://127.0.0.1:5000/edgeware/hello:0.1.0").unwrap();
        assert_eq!(image.registry(), "127.0.0.1:5000");
        assert_eq!(image.repository(), "edgeware/hello");
        assert_eq!(image.tag(), Some("0.1.0"));
        let pinned = format!("oci://localhost:5000/a@sha256:{}", "0".repeat(64));
        assert!(parse(&pinned).unwrap().digest().is_some());
        for bad in [
            "127.0.0.1:5000/a:b",
            "oci://registry.example",
            "oci:///a:b",
            "oci://h/",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_registries_are_plain_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("registry.example:5000"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
