use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Tests that run processes hold this: writing a script while another
/// thread forks can make exec fail with "text file busy".
static PROCESSES: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    PROCESSES.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_file(path: &Path, body: &str, mode: u32) {
    std::fs::write(path, body).expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn script(dir: &Path, body: &str) -> DockerCli {
    let path = dir.join("docker");
    write_file(&path, &format!("#!/bin/sh\n{body}"), 0o755);
    DockerCli::new(path)
}

const RECORD_ARGV: &str =
    "D=\"$(dirname \"$0\")\"\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$D/argv\"\n";

fn request<'a>(args: &'a [String], no_cache: bool) -> BuildRequest<'a> {
    BuildRequest {
        stage: "openbmc-sdbusplus",
        tag: "openbmc/ubuntu-unit-test-sdbusplus:2024-W01-abc",
        dockerfile: "FROM ubuntu:noble\nRUN echo hi\n",
        no_cache,
        build_args: args,
        timeout: None,
    }
}

fn collect_build(
    cli: &DockerCli,
    req: &BuildRequest<'_>,
    cancel: &CancelToken,
) -> (Result<(), EngineError>, Vec<String>) {
    let mut lines = Vec::new();
    let r = cli.build(req, &mut |l| lines.push(l.to_owned()), cancel);
    (r, lines)
}

fn process_gone(pid_file: &Path) -> bool {
    let pid = std::fs::read_to_string(pid_file).expect("pid file");
    !Path::new(&format!("/proc/{}", pid.trim())).exists()
}

#[test]
fn build_passes_exact_argv_and_stdin_and_streams_lines_in_order() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(
        dir.path(),
        &format!(
            "{RECORD_ARGV}cat > \"$D/stdin\"\necho 'Step 1/3 : FROM ubuntu'\nsleep 0.1\n\
             echo 'warning on stderr' >&2\nsleep 0.1\nprintf 'Successfully built abc\\r\\n'\n"
        ),
    );
    let args = vec![
        "http_proxy=http://p:3128".to_owned(),
        "https_proxy=http://p:3128".to_owned(),
    ];
    let req = request(&args, false);
    let (r, lines) = collect_build(&cli, &req, &CancelToken::new());
    r.expect("build succeeds");
    assert_eq!(
        lines,
        [
            "Step 1/3 : FROM ubuntu",
            "warning on stderr",
            "Successfully built abc"
        ]
    );
    let argv = std::fs::read_to_string(dir.path().join("argv")).expect("argv");
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        [
            "build",
            "--build-arg",
            "http_proxy=http://p:3128",
            "--build-arg",
            "https_proxy=http://p:3128",
            "--network=host",
            "--force-rm",
            "--no-cache=false",
            "-t",
            "openbmc/ubuntu-unit-test-sdbusplus:2024-W01-abc",
            "-",
        ]
    );
    let stdin = std::fs::read_to_string(dir.path().join("stdin")).expect("stdin");
    assert_eq!(stdin, req.dockerfile);
}

#[test]
fn build_argv_without_args_and_with_no_cache() {
    let req = request(&[], true);
    assert_eq!(
        DockerCli::build_argv(&req).join(" "),
        "build --network=host --force-rm --no-cache=true -t \
         openbmc/ubuntu-unit-test-sdbusplus:2024-W01-abc -"
    );
}

#[test]
fn failing_build_reports_its_status_and_output() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(dir.path(), "cat >/dev/null\necho 'it broke' >&2\nexit 3\n");
    let (r, lines) = collect_build(&cli, &request(&[], false), &CancelToken::new());
    let err = r.expect_err("must fail");
    assert!(
        matches!(
            &err,
            EngineError::Status {
                exit: ExitDesc::Code(3),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "`{} build --network=host --force-rm --no-cache=false -t \
             openbmc/ubuntu-unit-test-sdbusplus:2024-W01-abc -` exited with status 3",
            cli.program.display()
        )
    );
    assert_eq!(lines, ["it broke"]);
}

#[test]
fn missing_program_is_an_invoke_error() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = DockerCli::new(dir.path().join("nope"));
    let (r, _) = collect_build(&cli, &request(&[], false), &CancelToken::new());
    let err = r.expect_err("must fail");
    let spawn = |err: &EngineError| matches!(err, EngineError::Process(e) if matches!(e.kind, process::Failure::Spawn(_)));
    assert!(spawn(&err), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "could not start `{} build ",
            cli.program.display()
        )),
        "{err}"
    );
    let err = cli.existing_tags(&["a:b"]).expect_err("must fail");
    assert!(spawn(&err), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "could not start `{} image ls --format {IMAGE_LS_FORMAT}`: ",
            cli.program.display()
        )),
        "{err}"
    );
}

/// Builds with `cli`, cancelling from another thread after `delay`.
fn build_cancelled_after(
    cli: &DockerCli,
    delay: Duration,
) -> (Result<(), EngineError>, Vec<String>) {
    let cancel = CancelToken::new();
    std::thread::scope(|s| {
        let c = cancel.clone();
        s.spawn(move || {
            std::thread::sleep(delay);
            c.cancel();
        });
        collect_build(cli, &request(&[], false), &cancel)
    })
}

#[test]
fn cancel_terminates_the_child_promptly() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(
        dir.path(),
        "echo $$ > \"$(dirname \"$0\")/pid\"\necho started\nexec sleep 30\n",
    );
    let start = Instant::now();
    let (r, lines) = build_cancelled_after(&cli, Duration::from_millis(300));
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(lines, ["started"]);
    assert!(process_gone(&dir.path().join("pid")));
}

#[test]
fn cancel_escalates_to_sigkill_when_sigterm_is_ignored() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(
        dir.path(),
        "trap '' TERM\necho $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 30\n",
    );
    let start = Instant::now();
    let (r, _) = build_cancelled_after(&cli, Duration::from_millis(200));
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    let took = start.elapsed();
    assert!(
        took >= process::cancel::GRACE && took < process::cancel::GRACE * 2,
        "{took:?}"
    );
    assert!(process_gone(&dir.path().join("pid")));
}

#[test]
fn cancelled_before_start_runs_nothing() {
    let cancel = CancelToken::new();
    cancel.cancel();
    let cli = DockerCli::new("/nonexistent/docker");
    let (r, _) = collect_build(&cli, &request(&[], false), &cancel);
    assert!(matches!(r, Err(EngineError::Cancelled)));
}

#[test]
fn a_panicking_callback_does_not_leave_the_child_behind() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(
        dir.path(),
        "echo $$ > \"$(dirname \"$0\")/pid\"\necho hello\nexec sleep 30\n",
    );
    let r = std::panic::catch_unwind(|| {
        cli.build(
            &request(&[], false),
            &mut |_| panic!("callback panics"),
            &CancelToken::new(),
        )
    });
    assert!(r.is_err());
    assert!(process_gone(&dir.path().join("pid")));
}

#[test]
fn existing_tags_runs_one_image_ls_and_intersects() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(
        dir.path(),
        &format!(
            "{RECORD_ARGV}printf 'openbmc/base:1\\nlocalhost/openbmc/pkg:2\\n<none>:<none>\\nother:3\\n'\n"
        ),
    );
    let found = cli
        .existing_tags(&["openbmc/base:1", "openbmc/pkg:2", "openbmc/final:3"])
        .expect("image ls works");
    let want: HashSet<String> = ["openbmc/base:1", "openbmc/pkg:2"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(found, want);
    let argv = std::fs::read_to_string(dir.path().join("argv")).expect("argv");
    assert_eq!(argv, "image\nls\n--format\n{{.Repository}}:{{.Tag}}\n");
    assert!(cli.existing_tags(&[]).expect("no tags").is_empty());
}

#[test]
fn failing_image_ls_says_what_failed() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(
        dir.path(),
        "echo 'Cannot connect to the Docker daemon' >&2\nexit 1\n",
    );
    let err = cli.existing_tags(&["a:b"]).expect_err("must fail");
    let said = err.to_string();
    assert!(
        said.starts_with(&format!(
            "`{} image ls --format {{{{.Repository}}}}:{{{{.Tag}}}}` failed with status 1: \
             Cannot connect to the Docker daemon\nhint: no Docker daemon answers: start it",
            cli.program.display()
        )),
        "{said}"
    );
    // What matches no known fault gets the generic question.
    let cli = script(dir.path(), "echo 'Error: something else' >&2\nexit 125\n");
    let said = cli
        .existing_tags(&["a:b"])
        .expect_err("must fail")
        .to_string();
    assert!(
        said.ends_with(
            "something else\nhint: is the engine's daemon running and reachable? \
                        `docker info` or `podman info` tells; scripts/docker-up.sh starts one"
        ),
        "{said}"
    );
}

#[test]
fn the_platform_is_what_the_engine_says_in_either_form() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    // docker's form.
    let cli = script(
        dir.path(),
        "[ \"$1 $3\" = 'version {{.Server.Os}}/{{.Server.Arch}}' ] && echo linux/arm64 && exit 0\n\
         echo \"unexpected: $*\" >&2; exit 2\n",
    );
    assert_eq!(cli.platform().expect("docker answers"), "linux/arm64");
    // podman (also behind a program named docker): its own form.
    let cli = script(
        dir.path(),
        "[ \"$1\" = version ] && { printf 'linux/'; echo 'Error: template: version:1:10: \
         executing \"version\" at <.Arch>: can'\\''t evaluate field Arch' >&2; exit 125; }\n\
         [ \"$1 $3\" = 'info {{.Host.OS}}/{{.Host.Arch}}' ] && echo linux/ppc64le && exit 0\n\
         exit 2\n",
    );
    assert_eq!(cli.platform().expect("podman answers"), "linux/ppc64le");
    let podman = dir.path().join("podman");
    std::fs::rename(&cli.program, &podman).expect("rename");
    let calls = dir.path().join("calls");
    let body = std::fs::read_to_string(&podman).expect("read");
    write_file(
        &podman,
        &body.replacen(
            "\n",
            &format!("\necho \"$1\" >> '{}'\n", calls.display()),
            1,
        ),
        0o755,
    );
    assert_eq!(
        DockerCli::new(&podman).platform().expect("podman"),
        "linux/ppc64le"
    );
    assert_eq!(
        std::fs::read_to_string(&calls).expect("calls"),
        "info\n",
        "podman is asked in its own form first"
    );
    // Neither form answers: one error quoting both.
    let cli = script(dir.path(), "echo 'Error: no such thing' >&2\nexit 1\n");
    let err = cli.platform().expect_err("no platform");
    assert!(matches!(err, EngineError::Platform(_)), "{err:?}");
    let said = err.to_string();
    assert!(
        said.starts_with("the engine did not say its platform: `")
            && said.contains("version --format {{.Server.Os}}/{{.Server.Arch}}` failed with status 1: \"Error: no such thing\"")
            && said.contains("info --format {{.Host.OS}}/{{.Host.Arch}}`"),
        "{said}"
    );
    // An answer that is no os/arch is not taken.
    let cli = script(dir.path(), "echo '/'\n");
    assert!(matches!(cli.platform(), Err(EngineError::Platform(_))));
}

#[test]
fn a_hanging_platform_query_ends_at_the_engine_deadline() {
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = script(dir.path(), "exec sleep 30\n").with_query_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let err = cli.platform().expect_err("timeout");
    assert!(
        matches!(
            err,
            EngineError::Timeout {
                flag: "--engine-timeout",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "`{} version --format {{{{.Server.Os}}}}/{{{{.Server.Arch}}}}` did not finish \
             within 0.3s and was stopped (--engine-timeout)",
            cli.program.display()
        )
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn detect_finds_docker_then_podman_then_explains() {
    let root = tempfile::tempdir().expect("tempdir");
    let mk = |name: &str| {
        let d = root.path().join(name);
        std::fs::create_dir(&d).expect("mkdir");
        d
    };
    let (both, only_podman, not_exec, empty) =
        (mk("both"), mk("podman"), mk("noexec"), mk("empty"));
    for (d, f, mode) in [
        (&both, "docker", 0o755),
        (&both, "podman", 0o755),
        (&only_podman, "podman", 0o755),
        (&not_exec, "docker", 0o644),
    ] {
        write_file(&d.join(f), "#!/bin/sh\n", mode);
    }
    let path = |dirs: &[&PathBuf]| std::env::join_paths(dirs).expect("join");
    let detect = |explicit: Option<&str>, dirs: &[&PathBuf]| {
        DockerCli::detect_with_path(explicit.map(PathBuf::from), Some(&path(dirs)))
    };

    let cli = detect(None, &[&both]).expect("docker");
    assert_eq!(cli.program, both.join("docker"));
    let cli = detect(None, &[&not_exec, &only_podman]).expect("podman");
    assert_eq!(cli.program, only_podman.join("podman"));
    let err = detect(None, &[&empty, &not_exec]).expect_err("none");
    assert!(matches!(err, EngineError::NotFound));
    assert!(err.to_string().contains("--engine PATH"), "{err}");
    assert!(matches!(
        DockerCli::detect_with_path(None, None),
        Err(EngineError::NotFound)
    ));

    let explicit = both.join("podman");
    let cli = detect(explicit.to_str(), &[&empty]).expect("explicit");
    assert_eq!(cli.program, explicit);
    let cli = detect(Some("podman"), &[&empty, &both]).expect("bare name");
    assert_eq!(cli.program, both.join("podman"));
    for bad in [
        not_exec.join("docker"),
        empty.join("docker"),
        empty.clone(),
        PathBuf::from("nothing-like-this"),
    ] {
        let err = detect(bad.to_str(), &[&both]).expect_err("bad explicit");
        assert!(
            matches!(err, EngineError::NotExecutable { .. }),
            "{bad:?}: {err:?}"
        );
        assert!(err.to_string().contains("not an executable"), "{err}");
    }
}

#[test]
fn fake_engine_records_and_fails_as_told() {
    let fake = fake::FakeEngine::new()
        .with_existing(["t:1"])
        .with_failing(["bad"]);
    let found = fake.existing_tags(&["t:1", "t:2"]).expect("fake");
    assert_eq!(found.len(), 1);
    let mut lines = Vec::new();
    let mut req = request(&[], true);
    req.stage = "bad";
    let r = fake.build(&req, &mut |l| lines.push(l.to_owned()), &CancelToken::new());
    assert!(matches!(r, Err(EngineError::Status { .. })));
    assert_eq!(lines.len(), 2);
    let builds = fake.builds();
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].result, fake::FakeResult::Failed);
    assert!(builds[0].end_seq > Some(builds[0].start_seq));
    assert_eq!(
        fake.existing_tags_calls(),
        [vec!["t:1".to_owned(), "t:2".to_owned()]]
    );
}
