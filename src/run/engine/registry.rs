//! The engine's own access to registries (its login, its certificates):
//! pull, push and "is it there" for the fleet cache.
//!
//! Owns: the [`Registry`] trait and its [`DockerCli`] implementation
//! (`pull`, `tag`, `push`, `manifest inspect`, each under the registry
//! deadline through `crate::process`), and reading "the registry does not
//! have it" from the engine's words. Must not: decide what is pulled or
//! pushed (`crate::run::registry`), or print.

use crate::process;
use crate::run::registry_api::is_loopback;

use super::{DockerCli, ExitDesc};

/// Why a registry operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry does not have that image.
    #[error("not in the registry")]
    NotFound,
    /// Anything else: unreachable, refused, timed out, corrupt.
    #[error("{0}")]
    Failed(String),
    #[error("interrupted")]
    Cancelled,
}

/// An engine's own access to registries (its login, its certificates).
pub trait Registry: Sync {
    /// Pulls `remote` and tags it `local`.
    fn pull(&self, remote: &str, local: &str) -> Result<(), RegistryError>;
    /// Tags `local` as `remote` and pushes it.
    fn push(&self, local: &str, remote: &str) -> Result<(), RegistryError>;
    /// Whether the registry has `remote`, without pulling it.
    fn probe(&self, remote: &str) -> Result<bool, RegistryError>;
}

/// What a registry said, read for "it does not have that image".
fn is_not_found(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("manifest unknown")
        || s.contains("no such manifest")
        || s.contains("not found: manifest")
        || (s.contains("manifest for") && s.contains("not found"))
}

impl DockerCli {
    /// Runs the engine with `args` under the registry deadline.
    fn registry_call(&self, args: &[&str]) -> Result<(), RegistryError> {
        let mut cmd = process::command(&self.program);
        cmd.args(args);
        match process::run(cmd, self.registry_timeout, 1024 * 1024) {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => {
                // A registry's words reach the terminal (a warning): no
                // escape sequence of theirs does.
                let said = crate::printable::printable(&out.stderr).trim().to_owned();
                if is_not_found(&said) {
                    Err(RegistryError::NotFound)
                } else {
                    let last = said.lines().next_back().unwrap_or_default();
                    Err(RegistryError::Failed(format!(
                        "`{}` failed ({}): {last}",
                        out.command,
                        ExitDesc::of(out.status)
                    )))
                }
            }
            Err(e) if e.is_cancelled() => Err(RegistryError::Cancelled),
            Err(e) => Err(RegistryError::Failed(e.to_string())),
        }
    }
}

impl Registry for DockerCli {
    fn pull(&self, remote: &str, local: &str) -> Result<(), RegistryError> {
        self.registry_call(&["pull", "--quiet", remote])?;
        self.registry_call(&["tag", remote, local])
    }

    fn push(&self, local: &str, remote: &str) -> Result<(), RegistryError> {
        self.registry_call(&["tag", local, remote])?;
        self.registry_call(&["push", "--quiet", remote])
    }

    fn probe(&self, remote: &str) -> Result<bool, RegistryError> {
        // docker's client, unlike its daemon, wants --insecure for a plain
        // http registry; the daemon allows those on loopback only, so this
        // does too.
        let host = remote.split('/').next().unwrap_or_default();
        let mut args = vec!["manifest", "inspect"];
        if is_loopback(host) {
            args.push(if self.is_podman() {
                "--tls-verify=false"
            } else {
                "--insecure"
            });
        }
        args.push(remote);
        match self.registry_call(&args) {
            Ok(()) => Ok(true),
            Err(RegistryError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
