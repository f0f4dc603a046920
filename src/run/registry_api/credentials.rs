//! The engine's own credentials for a registry: docker's `config.json`
//! `auths`, its credential helpers (`credHelpers`, `credsStore`), podman's
//! `auth.json`.
//!
//! Owns: reading those files and asking a helper (`docker-credential-NAME
//! get`, the host on its stdin, under a deadline through `crate::process`).
//! Must not: send the credentials anywhere (`super::Api` does), or print.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process;

use super::http::base64;

/// The engine's credentials for `host`, from the first of `files` (docker
/// config.json or podman auth.json) with an entry for it: a `user:pass`
/// in base64. A config that names a credential helper for it
/// (`credHelpers`, `credsStore`) is asked through `docker-credential-NAME get`.
pub fn credentials(
    host: &str,
    files: &[PathBuf],
    timeout: Duration,
) -> Result<Option<String>, String> {
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
        if let Some(auths) = config.get("auths").and_then(|a| a.as_object()) {
            for (key, entry) in auths {
                if auth_key_host(key) != host {
                    continue;
                }
                if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
                    if !auth.is_empty() {
                        return Ok(Some(auth.to_owned()));
                    }
                }
                let user = entry.get("username").and_then(|a| a.as_str());
                let pass = entry.get("password").and_then(|a| a.as_str());
                if let (Some(u), Some(p)) = (user, pass) {
                    return Ok(Some(base64(format!("{u}:{p}").as_bytes())));
                }
            }
        }
        let helper = config
            .get("credHelpers")
            .and_then(|h| h.get(host))
            .or_else(|| config.get("credsStore"))
            .and_then(|h| h.as_str());
        if let Some(helper) = helper.filter(|h| !h.is_empty()) {
            return helper_credentials(helper, host, timeout, file);
        }
    }
    Ok(None)
}

/// `https://host/v1/` or `host` (as config.json keys are written) → host.
fn auth_key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or_default()
}

/// Asks `docker-credential-<helper> get` for `host` (on its stdin).
fn helper_credentials(
    helper: &str,
    host: &str,
    timeout: Duration,
    file: &Path,
) -> Result<Option<String>, String> {
    if !helper
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "{} names the credential helper {helper:?}, which is not a program name",
            file.display()
        ));
    }
    let mut cmd = process::command(format!("docker-credential-{helper}"));
    cmd.arg("get");
    let out = process::run_fed(cmd, format!("{host}\n").into_bytes(), timeout, 1024 * 1024)
        .map_err(|e| {
            format!(
                "{e}; it is the credential helper {} names for {host}",
                file.display()
            )
        })?;
    if !out.status.success() {
        // "credentials not found in native keychain": none for this host.
        return Ok(None);
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`{}` answered something that is not JSON: {e}", out.command))?;
    let user = answer.get("Username").and_then(|v| v.as_str());
    let secret = answer.get("Secret").and_then(|v| v.as_str());
    Ok(match (user, secret) {
        (Some(u), Some(s)) if !s.is_empty() => Some(base64(format!("{u}:{s}").as_bytes())),
        _ => None,
    })
}
