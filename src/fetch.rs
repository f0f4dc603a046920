//! Downloading a tarball to learn its SHA-256, through the `curl` on PATH.
//!
//! Owns: the one network read `bump --checksum` makes. Edge: runs a process.

use std::io::Read;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// The SHA-256 (lower-case hex) of what `url` serves.
pub fn sha256_of_url(url: &str) -> Result<String, String> {
    let mut child = Command::new("curl")
        .args(["-fsSL", "--proto", "=http,https", "--", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start curl: {e}"))?;
    let mut hasher = Sha256::new();
    let mut stdout = child.stdout.take().ok_or("curl has no stdout")?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = stdout
            .read(&mut buf)
            .map_err(|e| format!("reading from curl: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(|e| format!("waiting for curl: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`curl -fsSL {url}` failed ({status}): {}",
            stderr.trim()
        ));
    }
    if total == 0 {
        return Err(format!("{url} served an empty file"));
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
