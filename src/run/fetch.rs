//! Downloading a tarball to learn its SHA-256, through the `curl` on PATH.
//!
//! Owns: the one network read `bump --checksum` makes, with its deadline:
//! curl gives up on a connection that takes a minute or a transfer that
//! stalls for one, and the whole download is stopped at `timeout`. Edge:
//! runs a process.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use crossbeam::channel::{self, RecvTimeoutError};
use sha2::{Digest, Sha256};

/// Seconds curl waits for a connection, and for a stalled transfer to move.
const STALL_SECS: &str = "60";

/// The SHA-256 (lower-case hex) of what `url` serves, if it is all served
/// within `timeout`.
pub fn sha256_of_url(url: &str, timeout: Duration) -> Result<String, String> {
    let mut child = crate::process::command("curl")
        .args([
            "-fsSL",
            "--proto",
            "=http,https",
            "--connect-timeout",
            STALL_SECS,
            "--speed-limit",
            "1",
            "--speed-time",
            STALL_SECS,
            "--",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start curl: {e}"))?;
    // SIGINT/SIGTERM stop curl's group; so does a watchdog at the deadline.
    // Either way the read below then ends.
    let interrupted = crate::process::interrupted();
    let registered = std::sync::Arc::new(interrupted.register(&child));
    let (done, finished) = channel::bounded::<()>(0);
    let watched = registered.clone();
    let watchdog = std::thread::spawn(move || match finished.recv_timeout(timeout) {
        Err(RecvTimeoutError::Timeout) => {
            watched.signal(rustix::process::Signal::KILL);
            true
        }
        _ => false,
    });
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
    // Bounded, and quoted in an error that reaches the terminal.
    let mut raw = Vec::new();
    if let Some(e) = child.stderr.take() {
        let mut e = e;
        let _ = (&mut e).take(64 * 1024).read_to_end(&mut raw);
        // The rest is read and dropped, so curl never blocks on a full pipe.
        let _ = std::io::copy(&mut e, &mut std::io::sink());
    }
    let stderr = crate::printable::printable(&raw);
    let status = child.wait().map_err(|e| format!("waiting for curl: {e}"))?;
    drop(done);
    let timed_out = watchdog.join().unwrap_or(false);
    drop(registered);
    if interrupted.is_cancelled() {
        return Err(format!("downloading {url} was interrupted"));
    }
    if timed_out {
        return Err(format!(
            "downloading {url} did not finish within {}s and was stopped (--fetch-timeout)",
            timeout.as_secs()
        ));
    }
    if !status.success() {
        return Err(format!(
            "`curl -fsSL {url}` failed ({status}): {}",
            stderr.trim()
        ));
    }
    if total == 0 {
        return Err(format!("{url} served an empty file"));
    }
    Ok(format!("{:x}", hasher.finalize()))
}
