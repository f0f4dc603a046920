//! Asking git remotes about their refs without cloning (`git ls-remote`),
//! parsing the answer, and running such look-ups a bounded number at a time.
//!
//! Owns: spawning `git ls-remote` with no terminal prompts, a null stdin and
//! a hard timeout; turning its output into refs, tags (peeled to commits) and
//! branch heads; what a failure has in common across repositories
//! (`LsRemoteError::cause`, for grouped reports); `run_bounded`, the small
//! parallel map used for look-ups.
//!
//! Must not: clone or fetch, write any file, pick versions (that is
//! `crate::maintain::versions`), edit manifests (`crate::maintain::edit`),
//! or print credentials: its errors show the command as
//! `crate::process::command_line` does, user info in URLs masked.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::time::Duration;

use crate::process::ProcessError;

/// One line of `git ls-remote` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// Object id (40 hex for SHA-1 repos, 64 for SHA-256).
    pub sha: String,
    /// Full ref name, e.g. `refs/tags/v1.0^{}` or `refs/heads/main`.
    pub name: String,
}

/// Why `git ls-remote` gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LsRemoteError {
    /// git did not run to its end: it could not be started, was stopped
    /// at its deadline or by SIGINT/SIGTERM, or could not be waited for.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The command exited unsuccessfully.
    #[error("`{command}` failed ({status}){}", fmt_stderr(stderr))]
    Failed {
        /// The command line (credentials masked).
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The answer was larger than any real list of refs.
    #[error("`{command}` printed more than {} MiB; not a list of refs", limit / (1024 * 1024))]
    TooLarge {
        /// The command line (credentials masked).
        command: String,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The URL would be taken as an option by git.
    #[error("refusing to pass `{0}` to git ls-remote: a repository URL must not start with '-'")]
    BadUrl(String),
}

impl LsRemoteError {
    /// What this failure has in common with the same failure on other
    /// repositories, for reports that group failures: the last line git
    /// printed, else the failure without its command line (which names the
    /// repository).
    pub fn cause(&self) -> String {
        match self {
            LsRemoteError::Failed { status, stderr, .. } => stderr
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .map_or_else(|| format!("failed ({status})"), str::to_owned),
            LsRemoteError::Process(e) => e.kind.to_string(),
            LsRemoteError::TooLarge { limit, .. } => {
                format!("printed more than {} MiB", limit / (1024 * 1024))
            }
            LsRemoteError::BadUrl(_) => "a repository URL must not start with '-'".to_owned(),
        }
    }
}

fn fmt_stderr(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(":\n{stderr}")
    }
}

/// The most of git's output kept: far above any real repository's refs.
const OUTPUT_LIMIT: usize = 4 * 1024 * 1024;

/// How many trailing stderr lines go into a [`LsRemoteError::Failed`].
const STDERR_TAIL_LINES: usize = 5;

/// Parses `git ls-remote` output (`<sha>\t<refname>` per line); blank lines
/// and lines that are not of that shape (warnings, garbage) are skipped.
pub fn parse(output: &str) -> Vec<Ref> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            let (sha, name) = line.split_once('\t')?;
            let sha = sha.trim();
            let name = name.trim();
            if !crate::model::manifest::is_commit_id(sha)
                || name.is_empty()
                || name.contains(char::is_whitespace)
            {
                return None;
            }
            Some(Ref {
                sha: sha.to_ascii_lowercase(),
                name: name.to_owned(),
            })
        })
        .collect()
}

/// Tags as `(tag_name, sha)` in order of first appearance, `refs/tags/`
/// stripped. For annotated tags the peeled `^{}` entry's sha (the commit)
/// replaces the tag object's sha.
pub fn tags(refs: &[Ref]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut peeled: Vec<bool> = Vec::new();
    for r in refs {
        let Some(rest) = r.name.strip_prefix("refs/tags/") else {
            continue;
        };
        let (name, is_peeled) = match rest.strip_suffix("^{}") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        if name.is_empty() {
            continue;
        }
        match out.iter().position(|(n, _)| n == name) {
            Some(i) => {
                if is_peeled || !peeled[i] {
                    out[i].1.clone_from(&r.sha);
                    peeled[i] = peeled[i] || is_peeled;
                }
            }
            None => {
                out.push((name.to_owned(), r.sha.clone()));
                peeled.push(is_peeled);
            }
        }
    }
    out
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `git ls-remote <options> <url> <patterns>` and returns its stdout:
/// the entries of `args` starting with `-` are options, the others ref
/// patterns (e.g. `HEAD`), which git wants after the URL.
///
/// Runs with `GIT_TERMINAL_PROMPT=0` and a null stdin, so it never waits for
/// a password. If it takes longer than `timeout` it is stopped and a
/// [`LsRemoteError::Process`] that says so returned. It runs in a process group of its
/// own (`crate::process`), so what git itself started (ssh, remote
/// helpers) is stopped with it.
pub fn ls_remote(
    git: &Path,
    url: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<String, LsRemoteError> {
    if url.starts_with('-') {
        return Err(LsRemoteError::BadUrl(url.to_owned()));
    }
    let (options, patterns): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| a.starts_with('-'));
    let mut cmd = Command::new(git);
    cmd.arg("ls-remote")
        .args(&options)
        .arg(url)
        .args(&patterns)
        .env("GIT_TERMINAL_PROMPT", "0");
    let finished = crate::process::run(cmd, timeout, OUTPUT_LIMIT)?;
    let status = finished.status;
    let stdout = String::from_utf8_lossy(&finished.stdout).into_owned();
    // Quoted in errors, which reach the terminal.
    let stderr = crate::printable::printable(&finished.stderr);
    if finished.stdout_truncated {
        return Err(LsRemoteError::TooLarge {
            command: finished.command,
            limit: OUTPUT_LIMIT,
        });
    }
    if status.success() {
        Ok(stdout)
    } else {
        Err(LsRemoteError::Failed {
            command: finished.command,
            status,
            stderr: last_lines(&stderr, STDERR_TAIL_LINES),
        })
    }
}

/// Maps `f` over `items` with at most `max_parallel` running at once
/// (0 counts as 1), on scoped threads; results come back in input order.
/// A panic in `f` is re-raised in the caller once all workers stopped.
pub fn run_bounded<T: Send, R: Send>(
    items: Vec<T>,
    max_parallel: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let n = items.len();
    let workers = max_parallel.clamp(1, n.max(1));
    if workers <= 1 {
        return items.into_iter().map(f).collect();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let f = &f;
    let queue = &queue;
    let outcome = crossbeam::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(move |_| {
                    let mut done = Vec::new();
                    loop {
                        // A poisoned lock means another worker panicked; the
                        // iterator is still sound, so keep draining it.
                        let next = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(poisoned) => poisoned.into_inner().next(),
                        };
                        let Some((i, item)) = next else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        let mut all: Vec<Option<R>> = (0..n).map(|_| None).collect();
        let mut panic = None;
        for h in handles {
            match h.join() {
                Ok(done) => {
                    for (i, r) in done {
                        all[i] = Some(r);
                    }
                }
                Err(p) => panic = panic.or(Some(p)),
            }
        }
        (all, panic)
    });
    match outcome {
        Ok((_, Some(p))) | Err(p) => std::panic::resume_unwind(p),
        Ok((all, None)) => all.into_iter().flatten().collect(),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // The tests make their repositories with git directly.
mod tests {
    use super::*;
    use crate::process::Failure;
    use std::process::Stdio;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";

    fn r(sha: &str, name: &str) -> Ref {
        Ref {
            sha: sha.into(),
            name: name.into(),
        }
    }

    #[test]
    fn parse_skips_garbage() {
        let out = format!(
            "warning: redirecting to https://x/\n\n{A}\tHEAD\n{B}\trefs/heads/main\r\nnot-a-sha\trefs/tags/x\n{C}\n{C}\trefs/tags/v1\textra junk\nABCDEF\trefs/tags/short\n{}\trefs/tags/UP\n",
            A.to_uppercase().replace('1', "A")
        );
        let refs = parse(&out);
        assert_eq!(
            refs,
            vec![
                r(A, "HEAD"),
                r(B, "refs/heads/main"),
                r(&"a".repeat(40), "refs/tags/UP"),
            ]
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn tags_prefer_peeled_regardless_of_order() {
        let refs = vec![
            r(A, "refs/heads/master"),
            r(B, "refs/tags/v1.0"),
            r(C, "refs/tags/v1.0^{}"),
            r(C, "refs/tags/v2.0^{}"),
            r(B, "refs/tags/v2.0"),
            r(A, "refs/tags/light"),
            r(A, "refs/pull/1/head"),
        ];
        assert_eq!(
            tags(&refs),
            vec![
                ("v1.0".to_owned(), C.to_owned()),
                ("v2.0".to_owned(), C.to_owned()),
                ("light".to_owned(), A.to_owned()),
            ]
        );
    }

    #[test]
    fn run_bounded_keeps_order_and_bound() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = run_bounded((0..40).collect(), 3, |i: u32| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(u64::from(i % 4)));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..40).map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(run_bounded(Vec::<u8>::new(), 4, |x| x).is_empty());
        assert_eq!(run_bounded(vec![1, 2], 0, |x| x + 1), vec![2, 3]);
        assert_eq!(run_bounded(vec!["a".to_owned()], 8, |x| x.len()), vec![1]);
    }

    #[test]
    fn run_bounded_propagates_panics() {
        let r = std::panic::catch_unwind(|| {
            run_bounded((0..10).collect(), 4, |i: u32| {
                assert!(i != 7, "boom at 7");
                i
            })
        });
        assert!(r.is_err());
    }

    // ------------------------------------------------- real git repositories

    struct Fixture {
        _dir: tempfile::TempDir,
        url: String,
        c1: String,
        c2: String,
        c3: String,
        annotated_obj: String,
    }

    fn git(cwd: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=master",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args)
            .current_dir(cwd)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        let bare = dir.path().join("remote.git");
        std::fs::create_dir(&work).expect("mkdir");
        git(&work, &["init", "-q"]);
        let commit = |msg: &str| {
            std::fs::write(work.join("f.txt"), msg).expect("write");
            git(&work, &["add", "f.txt"]);
            git(&work, &["commit", "-q", "-m", msg]);
            git(&work, &["rev-parse", "HEAD"])
        };
        let c1 = commit("one");
        git(&work, &["tag", "v1.0.0"]);
        git(&work, &["tag", "-a", "v1.1.0", "-m", "annotated"]);
        let c2 = commit("two");
        git(&work, &["branch", "main"]);
        git(&work, &["tag", "-a", "v1.2.0-rc1", "-m", "rc"]);
        git(&work, &["checkout", "-q", "-b", "feature"]);
        let c3 = commit("three");
        git(&work, &["checkout", "-q", "master"]);
        let annotated_obj = git(&work, &["rev-parse", "v1.1.0"]);
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().expect("utf8"),
                "remote.git",
            ],
        );
        let url = format!("file://{}", bare.display());
        Fixture {
            _dir: dir,
            url,
            c1,
            c2,
            c3,
            annotated_obj,
        }
    }

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn ls_remote_tags_on_real_repo() {
        let fx = fixture();
        let out = ls_remote(Path::new("git"), &fx.url, &["--tags"], T).expect("ls-remote");
        let refs = parse(&out);
        assert!(refs.iter().all(|r| r.name.starts_with("refs/tags/")));
        assert!(refs.iter().any(|r| r.name == "refs/tags/v1.1.0^{}"));
        assert!(refs.iter().any(|r| r.sha == fx.annotated_obj));
        let t = tags(&refs);
        let get = |n: &str| {
            t.iter()
                .find(|(name, _)| name == n)
                .map(|(_, s)| s.as_str())
        };
        assert_eq!(t.len(), 3, "{t:?}");
        assert_eq!(get("v1.0.0"), Some(fx.c1.as_str()));
        assert_eq!(
            get("v1.1.0"),
            Some(fx.c1.as_str()),
            "annotated tag peeled to commit"
        );
        assert_eq!(get("v1.2.0-rc1"), Some(fx.c2.as_str()));
        let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            crate::maintain::versions::newest_release("v1.0.0", &names, false),
            Some("v1.1.0")
        );
    }

    #[test]
    fn ls_remote_heads_on_real_repo() {
        let fx = fixture();
        let out = ls_remote(Path::new("git"), &fx.url, &["--heads"], T).expect("ls-remote");
        let refs = parse(&out);
        assert_eq!(refs.len(), 3, "{refs:?}");
        let heads = |branch: &str| {
            crate::plan::revisions::BranchRule::new(
                crate::model::settings::BranchMatch::RegexSuffix,
                branch,
            )
            .expect("rule")
            .pick(&out)
            .map(str::to_owned)
        };
        assert_eq!(heads("feature").as_deref(), Some(fx.c3.as_str()));
        assert_eq!(
            heads("missing").as_deref(),
            Some(fx.c2.as_str()),
            "falls back"
        );
        // Everything at once, via run_bounded.
        let urls = vec![fx.url.clone(); 4];
        let all = run_bounded(urls, 2, |u| ls_remote(Path::new("git"), &u, &[], T));
        for res in all {
            let refs = parse(&res.expect("ls-remote"));
            assert!(refs.iter().any(|r| r.name == "HEAD"));
            assert!(refs.iter().any(|r| r.name == "refs/tags/v1.0.0"));
        }
    }

    #[test]
    fn unreachable_url_is_a_failure_with_stderr() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}/does-not-exist.git", dir.path().display());
        let err = ls_remote(Path::new("git"), &url, &["--tags"], T).expect_err("must fail");
        let msg = err.to_string();
        assert!(matches!(err, LsRemoteError::Failed { .. }), "{err:?}");
        assert!(msg.contains("git ls-remote --tags file://"), "{msg}");
        assert!(msg.contains("does-not-exist.git"), "{msg}");
        assert!(msg.to_lowercase().contains("fatal"), "{msg}");
    }

    #[test]
    fn a_failure_s_cause_is_the_last_line_git_printed_else_no_repository() {
        use std::os::unix::process::ExitStatusExt;
        let failed = |url: &str, stderr: &str| LsRemoteError::Failed {
            command: format!("git ls-remote {url}"),
            status: ExitStatus::from_raw(128 << 8),
            stderr: stderr.to_owned(),
        };
        let said = failed("https://x/a", "warning: slow\n fatal: no host ");
        assert_eq!(said.cause(), "fatal: no host");
        assert_eq!(
            said.cause(),
            failed("https://x/b", "fatal: no host").cause()
        );
        assert_ne!(said.cause(), failed("https://x/a", "fatal: denied").cause());
        let silent = failed("https://x/a", "");
        assert_eq!(silent.cause(), failed("https://x/b", "").cause());
        assert!(!silent.cause().contains("https://"), "{}", silent.cause());
    }

    #[test]
    fn missing_git_is_a_spawn_error() {
        let err = ls_remote(Path::new("/nonexistent/bin/git"), "file:///x", &[], T)
            .expect_err("must fail");
        assert!(
            matches!(&err, LsRemoteError::Process(e) if matches!(e.kind, Failure::Spawn(_))),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("could not start `/nonexistent/bin/git ls-remote file:///x`: "),
            "{err}"
        );
    }

    #[test]
    fn option_like_url_is_refused() {
        let err = ls_remote(Path::new("git"), "--upload-pack=touch /tmp/x", &[], T)
            .expect_err("must fail");
        assert!(matches!(err, LsRemoteError::BadUrl(_)));
    }

    /// Writes an executable script; retries running it on ETXTBSY, which a
    /// concurrently forking test thread can briefly cause.
    #[cfg(unix)]
    fn run_script(
        body: &str,
        args: &[&str],
        timeout: Duration,
    ) -> (tempfile::TempDir, Result<String, LsRemoteError>) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("git");
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for _ in 0..50 {
            match ls_remote(
                &path,
                "https://user:secret@example.invalid/r.git",
                args,
                timeout,
            ) {
                Err(LsRemoteError::Process(ProcessError {
                    kind: Failure::Spawn(source),
                    ..
                })) if source.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                res => return (dir, res),
            }
        }
        panic!("script stayed busy");
    }

    #[cfg(unix)]
    #[test]
    fn timeout_kills_and_names_command() {
        let start = Instant::now();
        let (_d, res) = run_script(
            "#!/bin/sh\nexec sleep 30\n",
            &["--tags"],
            Duration::from_millis(300),
        );
        let elapsed = start.elapsed();
        let err = res.expect_err("must time out");
        let msg = err.to_string();
        assert!(
            matches!(&err, LsRemoteError::Process(e) if e.timed_out()),
            "{err:?}"
        );
        assert!(
            msg.contains("ls-remote --tags https://***@example.invalid/r.git"),
            "{msg}"
        );
        assert!(msg.contains("0.3s"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }

    #[cfg(unix)]
    #[test]
    fn fake_git_sees_env_and_null_stdin() {
        let (_d, res) = run_script(
            "#!/bin/sh\necho \"prompt=$GIT_TERMINAL_PROMPT args=$*\"\nif read x; then echo got-stdin; fi\n",
            &["--heads"],
            T,
        );
        let out = res.expect("runs");
        assert_eq!(
            out,
            "prompt=0 args=ls-remote --heads https://user:secret@example.invalid/r.git\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn failure_keeps_last_stderr_lines() {
        let body = "#!/bin/sh\nfor i in 1 2 3 4 5 6 7 8; do echo \"line $i\" >&2; done\nexit 128\n";
        let (_d, res) = run_script(body, &[], T);
        let err = res.expect_err("fails");
        let msg = err.to_string();
        assert!(msg.contains("line 8") && msg.contains("line 4"), "{msg}");
        assert!(!msg.contains("line 3"), "{msg}");
        assert!(msg.contains("128"), "{msg}");
        assert!(
            msg.contains("ls-remote https://***@example.invalid/r.git") && !msg.contains("secret"),
            "{msg}"
        );
    }
}
