//! A throwaway OCI registry: Debian's `docker-registry` (CNCF Distribution)
//! on a free loopback port, storing into a temporary directory, without
//! authentication. Stopped (and its storage removed) when dropped.

use crate::{Host, tools};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

/// A running registry.
pub struct Registry {
    /// The registry process (its log is `host.log`).
    pub host: Host,
    /// `127.0.0.1:<port>`, as it appears in references.
    pub authority: String,
    storage: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits until it listens.
    pub fn start() -> Registry {
        let storage = tempfile::tempdir().expect("a temporary directory");
        // The registry cannot report a port it picked itself, so take a free
        // one and hand it over (another process could grab it in between;
        // on a test machine that does not happen in practice).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let authority = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {authority}\n  secret: edgeware-tests\n",
                storage.path().join("data").display()
            ),
        )
        .expect("writing the registry config");
        let mut command = Command::new(tools::docker_registry());
        command.arg("serve").arg(&config);
        let host = Host::spawn(
            command,
            "docker-registry",
            "listening on",
            Some(format!("http://{authority}")),
        );
        Registry {
            host,
            authority,
            storage,
        }
    }

    /// `oci://<authority>/<repository>:<tag>`.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!("oci://{}/{repository}:{tag}", self.authority)
    }

    /// The file the registry keeps blob `digest` (`sha256:<hex>`) in.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.storage
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}
