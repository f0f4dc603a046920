//! Downloading a tarball to learn its SHA-256, through the `curl` on PATH.
//!
//! Owns: the one network read `bump --checksum` makes, with its deadline:
//! curl gives up on a connection that takes a minute or a transfer that
//! stalls for one, and the whole download is stopped at `timeout`. Runs
//! curl through [`crate::process::stream()`]: its stdout is hashed as it
//! comes, its stderr read beside it. Must not: print, or write the file.

use std::collections::VecDeque;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::process;

/// Seconds curl waits for a connection, and for a stalled transfer to move.
const STALL_SECS: &str = "60";

/// The most of curl's stderr kept for an error: its last lines.
const STDERR_KEPT: usize = 64 * 1024;

/// The SHA-256 (lower-case hex) of what `url` serves, if it is all served
/// within `timeout`.
pub fn sha256_of_url(url: &str, timeout: Duration) -> Result<String, String> {
    let mut cmd = crate::process::command("curl");
    cmd.args([
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
    ]);
    let run = process::Streamed {
        input: None,
        deadline: Some(timeout),
        cancel: process::interrupted(),
        stdout: process::Mode::Bytes,
    };
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    // Stdout is hashed as it comes while stderr is read beside it: a curl
    // that says much cannot block on a full pipe.
    let mut said: VecDeque<String> = VecDeque::new();
    let mut said_len = 0;
    let exited = process::stream(cmd, run, &mut |piece| match piece {
        process::Piece::OutBytes(bytes) => {
            total += bytes.len() as u64;
            hasher.update(bytes);
        }
        process::Piece::Err(line) | process::Piece::Out(line) => {
            said_len += line.len();
            said.push_back(line.to_owned());
            while said_len > STDERR_KEPT {
                said_len -= said.pop_front().map_or(0, |l| l.len());
            }
        }
    })
    .map_err(|e| {
        if e.timed_out() {
            format!("{e} (--fetch-timeout)")
        } else {
            e.to_string()
        }
    })?;
    if !exited.status.success() {
        let stderr = Vec::from(said).join("\n");
        return Err(format!(
            "`{}` failed ({}): {}",
            exited.command,
            exited.status,
            stderr.trim()
        ));
    }
    if total == 0 {
        return Err(format!(
            "{} served an empty file",
            process::mask_credentials(url)
        ));
    }
    Ok(format!("{:x}", hasher.finalize()))
}
