use super::cancel::*;
use super::error::*;
use super::stream::*;
use super::*;
use std::time::Instant;

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

/// Whether a process with this pid is alive (not a zombie).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn captures_both_streams_and_the_status() {
    let f = run_with(
        sh("echo out; echo err >&2; exit 3"),
        Duration::from_secs(10),
        1024,
        &CancelToken::new(),
    )
    .expect("runs");
    assert_eq!(f.status.code(), Some(3));
    assert_eq!(f.command, "sh -c 'echo out; echo err >&2; exit 3'");
    assert_eq!(f.stdout, b"out\n");
    assert_eq!(f.stderr, b"err\n");
    assert!(!f.stdout_truncated);
}

#[test]
fn keeps_the_head_of_stdout_and_the_tail_of_stderr() {
    let f = run_with(
        sh("yes a | head -c 100000; yes b | head -c 50000 >&2; printf END >&2"),
        Duration::from_secs(10),
        10,
        &CancelToken::new(),
    )
    .expect("runs");
    assert_eq!(f.stdout, b"a\na\na\na\na\n");
    assert!(f.stdout_truncated);
    assert!(f.stderr.ends_with(b"END"), "{:?}", f.stderr);
    assert_eq!(f.stderr.len(), 10);
}

#[test]
fn a_child_past_its_deadline_is_stopped_with_its_own_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let started = Instant::now();
    let e = run_with(
        sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display())),
        Duration::from_millis(300),
        1024,
        &CancelToken::new(),
    )
    .expect_err("times out");
    assert!(matches!(e.kind, Failure::Timeout(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let grandchild = std::fs::read_to_string(&pidfile).expect("pid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(grandchild.trim()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(grandchild.trim()), "the grandchild was stopped too");
}

#[test]
fn cancelling_stops_a_running_child_at_once() {
    let token = CancelToken::new();
    let t = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        t.cancel();
    });
    let started = Instant::now();
    let e = run_with(sh("sleep 60"), Duration::from_secs(60), 1024, &token).expect_err("cancelled");
    assert!(e.is_cancelled(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    canceller.join().expect("join");
    // A cancelled token starts nothing more.
    let e = run_with(sh("true"), Duration::from_secs(1), 10, &token).expect_err("no start");
    assert!(e.is_cancelled());
}

#[test]
fn input_reaches_the_childs_stdin() {
    let f = run_fed(
        sh("tr a-z A-Z"),
        b"secret header\n".to_vec(),
        Duration::from_secs(10),
        1024,
    )
    .expect("runs");
    assert_eq!(f.stdout, b"SECRET HEADER\n");
}

#[test]
fn a_missing_program_is_a_spawn_error() {
    let e = run_with(
        Command::new("/nonexistent/program"),
        Duration::from_secs(1),
        10,
        &CancelToken::new(),
    )
    .expect_err("fails");
    assert!(matches!(e.kind, Failure::Spawn(_)));
}

#[test]
fn a_child_token_stops_with_its_parent_and_alone() {
    let parent = CancelToken::new();
    let child = parent.child();
    let started = Instant::now();
    let c = child.clone();
    let sleeper =
        std::thread::spawn(move || run_with(sh("sleep 60"), Duration::from_secs(60), 10, &c));
    std::thread::sleep(Duration::from_millis(200));
    parent.cancel();
    let e = sleeper.join().expect("join").expect_err("cancelled");
    assert!(e.is_cancelled(), "{e}");
    assert!(child.is_cancelled() && started.elapsed() < Duration::from_secs(5));
    assert!(
        parent.child().is_cancelled(),
        "born cancelled after the parent"
    );

    // Cancelling a child leaves the parent and its siblings running.
    let parent = CancelToken::new();
    let (a, b) = (parent.child(), parent.child());
    a.cancel();
    assert!(!parent.is_cancelled() && !b.is_cancelled());
}

fn streamed(cancel: &CancelToken, deadline: Option<Duration>, stdout: Mode) -> Streamed<'_> {
    Streamed {
        input: None,
        deadline,
        cancel,
        stdout,
    }
}

#[test]
fn stream_reads_a_flooded_stderr_beside_stdout() {
    // 1 MiB on stderr before a byte of stdout: far more than a pipe holds.
    let cancel = CancelToken::new();
    let (mut out, mut err_lines) = (Vec::new(), 0usize);
    let status = stream(
        sh("head -c 1048576 /dev/zero | tr '\\0' 'e' | fold -w 1000 >&2; printf 'the tarball'"),
        streamed(&cancel, Some(Duration::from_secs(20)), Mode::Bytes),
        &mut |piece| match piece {
            Piece::OutBytes(b) => out.extend_from_slice(b),
            Piece::Err(_) => err_lines += 1,
            Piece::Out(_) => panic!("stdout is in bytes"),
        },
    )
    .expect("runs")
    .status;
    assert!(status.success());
    assert_eq!(out, b"the tarball");
    assert_eq!(err_lines, 1_048_576_usize.div_ceil(1000));
}

#[test]
fn stream_hands_over_the_lines_of_both_streams_printable_and_bounded() {
    let cancel = CancelToken::new();
    let mut seen = Vec::new();
    let status = stream(
        sh("echo out1; echo err1 >&2; printf 'red \\033[31mtext\\033[0m\\n'; head -c 70000 /dev/zero | tr '\\0' x; echo; exit 3"),
        streamed(&cancel, None, Mode::Lines),
        &mut |piece| match piece {
            Piece::Out(l) => seen.push(format!("out:{}", &l[..l.len().min(20)])),
            Piece::Err(l) => seen.push(format!("err:{l}")),
            Piece::OutBytes(_) => panic!("lines asked for"),
        },
    )
    .expect("runs")
    .status;
    assert_eq!(status.code(), Some(3));
    assert!(seen.contains(&"err:err1".to_owned()), "{seen:?}");
    let out: Vec<&String> = seen.iter().filter(|l| l.starts_with("out:")).collect();
    // A 70,000-byte line comes as a MAX_LINE piece and the rest.
    assert_eq!(
        out,
        [
            "out:out1",
            "out:red text",
            "out:xxxxxxxxxxxxxxxxxxxx",
            "out:xxxxxxxxxxxxxxxxxxxx"
        ]
    );
}

#[test]
fn stream_deadline_stops_the_whole_group() {
    let cancel = CancelToken::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let started = Instant::now();
    let e = stream(
        sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display())),
        streamed(&cancel, Some(Duration::from_millis(500)), Mode::Lines),
        &mut |_| {},
    )
    .expect_err("past its deadline");
    assert!(matches!(e.kind, Failure::Timeout(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid = std::fs::read_to_string(&pidfile).expect("pid");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(pid.trim()), "the grandchild sleep is gone");
}

#[test]
fn stream_feeds_stdin_and_survives_a_child_that_does_not_read_it() {
    let cancel = CancelToken::new();
    let mut lines = Vec::new();
    let fed = Streamed {
        input: Some(b"FROM x\nRUN y\n".to_vec()),
        ..streamed(&cancel, Some(Duration::from_secs(20)), Mode::Lines)
    };
    let status = stream(sh("cat"), fed, &mut |p| {
        if let Piece::Out(l) = p {
            lines.push(l.to_owned());
        }
    })
    .expect("runs")
    .status;
    assert!(status.success());
    assert_eq!(lines, ["FROM x", "RUN y"]);
    // 8 MiB offered to a child that exits at once: no panic, its status.
    let ignored = Streamed {
        input: Some(vec![b'x'; 8 << 20]),
        ..streamed(&cancel, Some(Duration::from_secs(20)), Mode::Lines)
    };
    let status = stream(sh("exit 4"), ignored, &mut |_| {})
        .expect("runs")
        .status;
    assert_eq!(status.code(), Some(4));
}

#[test]
fn stream_stops_at_once_when_cancelled() {
    let cancel = CancelToken::new();
    cancel.cancel();
    let e = stream(
        sh("echo never"),
        streamed(&cancel, None, Mode::Lines),
        &mut |_| panic!("not started"),
    )
    .expect_err("cancelled");
    assert!(e.is_cancelled());
}

// ------------------------------------------------------ the command shown

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

#[test]
fn the_command_line_quotes_only_what_a_shell_would_misread() {
    assert_eq!(
        command_line(&cmd(
            "git",
            &["ls-remote", "--heads", "https://x/y", "refs/tags/v1^{}"]
        )),
        "git ls-remote --heads https://x/y refs/tags/v1^{}"
    );
    assert_eq!(
        command_line(&cmd(
            "/usr/bin/docker",
            &["image", "ls", "--format", "{{.ID}}\t{{.Tag}}", "", "it's"]
        )),
        "/usr/bin/docker image ls --format '{{.ID}}\t{{.Tag}}' '' 'it'\\''s'"
    );
    assert_eq!(command_line(&cmd("a b", &[])), "'a b'");
}

#[test]
fn the_command_line_masks_the_credentials_of_every_url_in_it() {
    let shown = command_line(&cmd(
        "docker",
        &[
            "build",
            "--build-arg",
            "http_proxy=http://me:s3cret@proxy:3128",
            "https://u:tok@host/r.git?x=a@b",
            "a=http://p:one@x,https://q:two@y/z",
        ],
    ));
    assert_eq!(
        shown,
        "docker build --build-arg http_proxy=http://***@proxy:3128 \
         'https://***@host/r.git?x=a@b' a=http://***@x,https://***@y/z"
    );
    for secret in ["s3cret", "tok", "one", "two", "me:", "u:"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn masking_leaves_what_is_not_user_info() {
    for same in [
        "https://github.com/a@b",
        "git@github.com:a/b",
        "file:///srv/git/x.git",
        "no url at all",
        "https://host",
        "",
    ] {
        assert_eq!(mask_credentials(same), same);
    }
    assert_eq!(
        mask_credentials("https://u:tok@github.com/a/b"),
        "https://***@github.com/a/b"
    );
    assert_eq!(mask_credentials("ssh://git@host/x"), "ssh://***@host/x");
    assert_eq!(
        mask_credentials("https://u:p@ss@host"),
        "https://***@host",
        "the last @ of the authority ends the user info"
    );
}

#[test]
fn every_failure_names_the_command() {
    let git = cmd("git", &["ls-remote", "--heads", "https://u:pw@x/y"]);
    let error = |kind| ProcessError::new(&git, kind);
    let shown = "`git ls-remote --heads https://***@x/y`";
    let io = || std::io::Error::from_raw_os_error(2);
    assert_eq!(
        error(Failure::Spawn(io())).to_string(),
        format!("could not start {shown}: No such file or directory (os error 2)")
    );
    assert_eq!(
        error(Failure::Timeout(Duration::from_secs(120))).to_string(),
        format!("{shown} did not finish within 120s and was stopped")
    );
    assert_eq!(
        error(Failure::Timeout(Duration::from_millis(300))).to_string(),
        format!("{shown} did not finish within 0.3s and was stopped")
    );
    assert_eq!(
        error(Failure::Cancelled).to_string(),
        format!("{shown} was stopped: interrupted")
    );
    assert_eq!(
        error(Failure::Wait(io())).to_string(),
        format!("waiting for {shown} failed: No such file or directory (os error 2)")
    );
    // The cause is in the message, not chained a second time.
    assert!(std::error::Error::source(&error(Failure::Spawn(io()))).is_none());
    assert!(error(Failure::Cancelled).is_cancelled());
    assert!(!error(Failure::Timeout(Duration::ZERO)).is_cancelled());
    assert!(error(Failure::Timeout(Duration::ZERO)).timed_out());
}

#[test]
fn a_run_s_error_names_the_command_it_was_given() {
    let e = run_with(
        cmd("/nonexistent/program", &["--flag", "two words"]),
        Duration::from_secs(1),
        10,
        &CancelToken::new(),
    )
    .expect_err("fails");
    assert_eq!(e.command, "/nonexistent/program --flag 'two words'");
    let e = run_with(
        sh("sleep 60"),
        Duration::from_millis(100),
        10,
        &CancelToken::new(),
    )
    .expect_err("times out");
    assert_eq!(
        e.to_string(),
        "`sh -c 'sleep 60'` did not finish within 0.1s and was stopped"
    );
    let cancelled = CancelToken::new();
    cancelled.cancel();
    let e = stream(
        cmd("curl", &["https://u:pw@host/x"]),
        streamed(&cancelled, None, Mode::Bytes),
        &mut |_| {},
    )
    .expect_err("cancelled");
    assert_eq!(
        e.to_string(),
        "`curl https://***@host/x` was stopped: interrupted"
    );
}
