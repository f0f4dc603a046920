use super::*;

fn io(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, what.to_owned())
}

/// What the edge prints and the status it exits with.
fn printed(e: &CmdError) -> (String, i32) {
    (format!("error: {}", with_sources(e)), e.exit_status())
}

#[test]
fn bad_flags_and_variables_are_usage_errors_exiting_2() {
    let usage = [
        CmdError::from(SettingsError::ZeroCpus),
        CmdError::from(SettingsError::ClockBeforeEpoch),
        CmdError::from(SettingsError::ClockOutOfRange),
        CmdError::from(SettingsError::SourceDateEpochNotANumber("soon".into())),
        CmdError::from(SettingsError::SourceDateEpochOutOfRange("9e99".into())),
        CmdError::from(SettingsError::SourceDateEpochNotUtf8),
        CmdError::from(SettingsError::NotAnArch("x86 64".into())),
        CmdError::from(SettingsError::Refused(vec!["a".into()])),
        CmdError::Usage(UsageError::CachePushWithoutRegistry),
        CmdError::Usage(UsageError::BadRegistry {
            flag: "BUILD_UNIT_TEST_CACHE_REGISTRY (--cache-registry)",
            reference: "a b".into(),
            why: "is not a registry".into(),
        }),
        CmdError::Usage(UsageError::ChecksumOfBasePin),
        CmdError::Usage(UsageError::ReportUnwritable {
            path: "/r/x.json".into(),
            source: io("denied"),
        }),
        CmdError::Usage(UsageError::BadRegistry {
            flag: "--cache-registry",
            reference: "a b".into(),
            why: "is not a registry".into(),
        }),
        CmdError::Usage(UsageError::NoSuchStage {
            name: "x".into(),
            suggestion: None,
        }),
        CmdError::Usage(UsageError::NoSuchStage {
            name: "sdbus".into(),
            suggestion: Some("openbmc-sdbusplus".into()),
        }),
    ];
    for e in &usage {
        assert_eq!(e.exit_status(), 2, "{e}");
    }
    assert_eq!(
        printed(&usage[0]),
        ("error: --cpus must be at least 1".to_owned(), 2)
    );
    assert_eq!(
        printed(&usage[3]).0,
        "error: SOURCE_DATE_EPOCH `soon` is not a number of seconds"
    );
    assert_eq!(
        printed(&usage[9]).0,
        "error: BUILD_UNIT_TEST_CACHE_REGISTRY (--cache-registry) \"a b\" is not a registry"
    );
    assert_eq!(
        printed(&usage[12]).0,
        "error: --cache-registry \"a b\" is not a registry"
    );
    assert_eq!(
        printed(&usage[13]).0,
        "error: no stage `x`",
        "no hint when nothing is close"
    );
    assert_eq!(
        printed(&usage[14]).0,
        "error: no stage `sdbus` (did you mean `openbmc-sdbusplus`?)"
    );
    assert_eq!(
        printed(&usage[8]).0,
        "error: --cache-push needs --cache-registry (BUILD_UNIT_TEST_CACHE_REGISTRY)"
    );
    assert_eq!(
        printed(&usage[10]).0,
        "error: --checksum is for packages, not base pins"
    );
    assert_eq!(
        printed(&usage[11]).0,
        "error: --report /r/x.json: cannot write the report there (checked before building): denied"
    );
}

#[test]
fn every_refused_setting_is_its_own_error_line() {
    let e = CmdError::from(SettingsError::Refused(vec![
        "DISTRO \"x\" is bad".into(),
        "BRANCH \"y\" is bad".into(),
    ]));
    assert_eq!(
        printed(&e),
        (
            "error: DISTRO \"x\" is bad\nerror: BRANCH \"y\" is bad".to_owned(),
            2
        )
    );
}

#[test]
fn an_interrupted_run_exits_130_saying_what_was_stopped() {
    let cases = [
        (Interruption::Build, "error: interrupted"),
        (
            Interruption::RevisionLookups,
            "error: interrupted while looking up revisions; every lookup was stopped",
        ),
        (
            Interruption::UpstreamLookups,
            "error: interrupted; every lookup was stopped",
        ),
        (
            Interruption::Update,
            "error: interrupted; every lookup was stopped, nothing was written",
        ),
        (
            Interruption::Check,
            "error: interrupted while checking the root; nothing was done",
        ),
        (
            Interruption::Prune,
            "error: interrupted; nothing more was removed",
        ),
    ];
    for (what, line) in cases {
        assert_eq!(
            printed(&CmdError::Interrupted(what)),
            (line.to_owned(), 130)
        );
    }
}

#[test]
fn an_invalid_project_points_at_validate_and_exits_1() {
    let e = CmdError::Project(ProjectError::Invalid {
        errors: 3,
        root: PathBuf::from("/p"),
    });
    assert_eq!(
        printed(&e),
        (
            "error: 3 problem(s) in /p: run `build-unit-test-docker validate` for the full report"
                .to_owned(),
            1
        )
    );
    assert_eq!(
        printed(&CmdError::Project(ProjectError::EditWouldInvalidate)),
        (
            "error: the edit would leave the project invalid; nothing was written".to_owned(),
            1
        )
    );
}

/// `git ls-remote --heads` on `base/name` failing with `stderr`.
fn git_failed(name: &str, stderr: &str) -> LookupFailure {
    use std::os::unix::process::ExitStatusExt;
    LookupFailure::Git(crate::run::lsremote::LsRemoteError::Failed {
        command: format!("git ls-remote --heads https://example.org/{name}"),
        status: std::process::ExitStatus::from_raw(128 << 8),
        stderr: stderr.into(),
    })
}

#[test]
fn failed_revision_lookups_are_grouped_by_cause_with_the_hint() {
    let e = CmdError::Lookup(LookupError::RevisionLookups {
        failures: vec![
            ("a/x".into(), git_failed("a/x", "fatal: no host")),
            ("a/y".into(), git_failed("a/y", "fatal: no host")),
            (
                "a/z".into(),
                LookupFailure::Git(crate::run::lsremote::LsRemoteError::Process(
                    crate::process::ProcessError {
                        command: "git ls-remote --heads https://example.org/a/z".into(),
                        kind: crate::process::Failure::Timeout(std::time::Duration::from_secs(120)),
                    },
                )),
            ),
        ],
        git_base: "https://example.org".into(),
    });
    let (text, status) = printed(&e);
    assert_eq!(status, 1);
    assert_eq!(
        text,
        "error: cannot resolve the revision of 3 package(s) without a `rev`: a/x, a/y, a/z\n\
         \x20 a/x: `git ls-remote --heads https://example.org/a/x` failed (exit status: 128):\n    \
         fatal: no host (and the same for 1 more)\n\
         \x20 a/z: `git ls-remote --heads https://example.org/a/z` did not finish within 120s \
         and was stopped\n\
         hint: the branch heads are looked up with `git ls-remote` on https://example.org; \
         without network, pin `rev` in those manifests (bump PKG REV), or point \
         --git-base-url (BUILD_UNIT_TEST_GIT_BASE) at a reachable mirror"
    );
    let setting = CmdError::Lookup(LookupError::RevisionSetting("BRANCH \"x y\" is bad".into()));
    assert_eq!(
        printed(&setting),
        ("error: BRANCH \"x y\" is bad".into(), 1)
    );
}

#[test]
fn lookups_failing_for_one_cause_are_one_line_whatever_their_urls() {
    let no_branch = |name: &str| LookupFailure::NoBranch {
        url: format!("https://example.org/{name}"),
        branch: "dev".into(),
        fallbacks: "`master` or `main`",
    };
    let e = CmdError::Lookup(LookupError::RevisionLookups {
        failures: vec![
            ("a/x".into(), no_branch("a/x")),
            ("a/y".into(), no_branch("a/y")),
            (
                "a/z".into(),
                LookupFailure::UnusableRev {
                    url: "https://example.org/a/z".into(),
                    rev: "-x".into(),
                    why: "starts with `-`".into(),
                },
            ),
        ],
        git_base: "https://example.org".into(),
    });
    let text = printed(&e).0;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1..3],
        [
            "  a/x: `git ls-remote --heads https://example.org/a/x` lists no branch matching \
             `dev`, nor `master` or `main` (and the same for 1 more)",
            "  a/z: git answered `-x` for https://example.org/a/z, which starts with `-`",
        ],
        "{text}"
    );
    assert!(lines[3].starts_with("hint: "), "{text}");
}

#[test]
fn a_lookup_report_shows_no_password_of_the_git_base() {
    let base = "https://me:s3cret@git.example";
    let e = CmdError::Lookup(LookupError::RevisionLookups {
        failures: vec![(
            "a/x".into(),
            LookupFailure::NoBranch {
                url: format!("{base}/a/x"),
                branch: "dev".into(),
                fallbacks: "`master`",
            },
        )],
        git_base: base.into(),
    });
    let text = printed(&e).0;
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains("`git ls-remote` on https://***@git.example;"),
        "{text}"
    );
}

#[test]
fn a_failed_build_names_its_failed_stages_and_exits_1() {
    let e = CmdError::Build(BuildError::StagesFailed {
        stages: vec!["base".into(), "openbmc/sdbusplus".into()],
    });
    assert_eq!(
        printed(&e),
        ("error: build failed: base, openbmc/sdbusplus".into(), 1)
    );
    let engine = CmdError::from(EngineError::NotFound);
    assert_eq!(engine.exit_status(), 1);
    assert!(printed(&engine).0.contains("--engine PATH"));
    let scheduler = CmdError::from(SchedulerError::ZeroJobs);
    assert_eq!(
        printed(&scheduler),
        (
            "error: the number of parallel builds must be at least 1".into(),
            1
        )
    );
    let render = CmdError::from(RenderError::MissingRev("a/x".into()));
    assert_eq!(
        printed(&render),
        (
            "error: package `a/x` has no revision (it was not resolved)".into(),
            1
        )
    );
}

#[test]
fn a_failed_prune_names_each_tag_and_exits_1() {
    let e = CmdError::Build(BuildError::PruneRemovals {
        failures: vec![
            (
                "img-base:2026-W01-0123456789abcdef".into(),
                "conflict".into(),
            ),
            ("img:2026-W01-0123456789abcdef".into(), "busy".into()),
        ],
    });
    assert_eq!(
        printed(&e),
        (
            "error: 2 tag(s) could not be removed (the others were):\n\
             \x20 img-base:2026-W01-0123456789abcdef: conflict\n\
             \x20 img:2026-W01-0123456789abcdef: busy"
                .to_owned(),
            1
        )
    );
    let e = CmdError::Build(BuildError::Registry(
        crate::run::registry_api::ApiError::DeletesDisabled {
            host: "reg:5000".into(),
            what: "DELETE /v2/x/manifests/sha256:1".into(),
            detail: ": UNSUPPORTED".into(),
        },
    ));
    let (text, status) = printed(&e);
    assert_eq!(status, 1);
    assert!(text.contains("storage: delete: enabled: true"), "{text}");
    let e = CmdError::Build(BuildError::RegistryCredentials("bad json".into()));
    assert_eq!(
        printed(&e),
        (
            "error: cannot read the registry credentials: bad json".to_owned(),
            1
        )
    );
    let e = CmdError::from(crate::run::prune::CallError::Engine(EngineError::NotFound));
    assert!(matches!(e, CmdError::Build(BuildError::PruneEngine(_))));
    assert_eq!(e.exit_status(), 1);
}

#[test]
fn file_errors_name_the_file_then_the_cause() {
    let cases = [
        (
            CmdError::File(FileError::Read {
                path: "/p/a.toml".into(),
                source: io("denied"),
            }),
            "error: cannot read /p/a.toml: denied",
        ),
        (
            CmdError::File(FileError::Write {
                path: "/o/base.Dockerfile".into(),
                source: io("disk full"),
            }),
            "error: cannot write /o/base.Dockerfile: disk full",
        ),
        (
            CmdError::File(FileError::EditNotWritten {
                path: "/p/a.toml".into(),
                error: io("disk full"),
            }),
            "error: cannot write /p/a.toml: disk full; nothing else was written after it",
        ),
        (
            CmdError::File(FileError::CreateDir {
                path: "/o".into(),
                source: io("denied"),
            }),
            "error: cannot create /o: denied",
        ),
        (
            CmdError::File(FileError::RemoveStale {
                path: "/o/x.Dockerfile".into(),
                source: io("busy"),
            }),
            "error: cannot remove the stale /o/x.Dockerfile: busy",
        ),
        (
            CmdError::File(FileError::Edit {
                path: "/p/a.toml".into(),
                source: EditError::NotToml {
                    message: "bad".into(),
                },
            }),
            "error: /p/a.toml: not valid TOML: bad",
        ),
        (
            CmdError::File(FileError::LockRoot {
                root: "/p".into(),
                source: io("held"),
            }),
            "error: cannot lock /p for editing: held",
        ),
        (
            CmdError::File(FileError::WriteReport {
                path: "/r.json".into(),
                source: io("denied"),
            }),
            "error: cannot write the report /r.json: denied",
        ),
        (
            CmdError::File(FileError::Stdout(io("No space left on device"))),
            "error: could not write to stdout: No space left on device",
        ),
        (
            CmdError::File(FileError::WriteManPages(io("closed"))),
            "error: cannot write the man pages: closed",
        ),
        (
            CmdError::SignalHandlers(io("no")),
            "error: cannot install signal handlers: no",
        ),
    ];
    for (e, line) in cases {
        assert_eq!(printed(&e), (line.to_owned(), 1));
    }
}

#[test]
fn maintainer_edit_errors_say_what_to_do_and_exit_1() {
    let cases = [
        (
            CmdError::Project(ProjectError::NoSuchPackage {
                name: "widget".into(),
                suggestion: Some("acme/widget".into()),
            }),
            "error: no package `widget`: did you mean `acme/widget`?",
        ),
        (
            CmdError::Project(ProjectError::NoSuchPackage {
                name: "zzz".into(),
                suggestion: None,
            }),
            "error: no package `zzz`: `build-unit-test-docker list` shows the packages",
        ),
        (
            CmdError::Project(ProjectError::PackageGone {
                name: "acme/a".into(),
            }),
            "error: no package `acme/a`",
        ),
        (
            CmdError::Project(ProjectError::NoSuchPin {
                key: "mesn".into(),
                suggestion: Some("meson".into()),
                pins: "base.meson, base.cmake".into(),
            }),
            "error: no pin `base.mesn`: did you mean `base.meson`? pins: base.meson, base.cmake",
        ),
        (
            CmdError::Project(ProjectError::NoSuchPin {
                key: "zzz".into(),
                suggestion: None,
                pins: "base.meson".into(),
            }),
            "error: no pin `base.zzz`: pins: base.meson",
        ),
        (
            CmdError::Project(ProjectError::BasePinIsList { key: "apt".into() }),
            "error: base.apt is a list: edit templates/base.toml by hand",
        ),
        (
            CmdError::Project(ProjectError::ChecksumWouldNotMatch {
                package: "acme/a".into(),
            }),
            "error: acme/a has a sha256, which the new rev's tarball will not match: pass --checksum to record the new one",
        ),
        (
            CmdError::Project(ProjectError::UnsafeRev {
                rev: "a b".into(),
                why: "has a space".into(),
            }),
            "error: rev `a b` has a space",
        ),
        (
            CmdError::Project(ProjectError::NothingPinned),
            "error: no package has a pinned rev to compare with upstream",
        ),
        (
            CmdError::Lookup(LookupError::UpstreamLookupsFailed),
            "error: some lookups failed (see the table)",
        ),
        (
            CmdError::Lookup(LookupError::Download("curl failed".into())),
            "error: curl failed",
        ),
        (
            CmdError::Lookup(LookupError::RevMovedDuringLookup {
                package: "acme/a".into(),
                looked_up: "v1".into(),
                now: "v2".into(),
            }),
            "error: acme/a: its rev changed from v1 to v2 while upstream was looked up; \
             not updated (run update again)",
        ),
        (
            CmdError::Lookup(LookupError::SourceMovedDuringDownload {
                package: "acme/a".into(),
                downloaded: "https://x/a.tar.gz".into(),
                now: "https://x/b.tar.gz".into(),
            }),
            "error: acme/a: its tarball is now https://x/b.tar.gz, not https://x/a.tar.gz: \
             the manifest changed while it downloaded; nothing was written (run the bump again)",
        ),
        (
            CmdError::Project(ProjectError::UrlTemplate {
                package: "acme/a".into(),
                source: minijinja::Error::new(minijinja::ErrorKind::UndefinedError, "no x"),
            }),
            "error: the url of acme/a does not render: undefined value: no x",
        ),
    ];
    for (e, line) in cases {
        assert_eq!(printed(&e), (line.to_owned(), 1));
    }
}

#[test]
fn several_failures_are_one_line_each_and_exit_with_the_highest_status() {
    let skipped = CmdError::Skipped(Box::new(CmdError::File(FileError::Read {
        path: "/p/a.toml".into(),
        source: io("denied"),
    })));
    let lookup = CmdError::Lookup(LookupError::UpstreamLookup {
        package: "acme/b".into(),
        why: "timed out".into(),
    });
    let e = CmdError::all(vec![lookup, skipped]).expect_err("two failures");
    assert_eq!(
        printed(&e),
        (
            "error: acme/b: lookup failed: timed out\n\
             error: cannot read /p/a.toml: denied (skipped)"
                .to_owned(),
            1
        )
    );
    let e = CmdError::all(vec![
        CmdError::Interrupted(Interruption::Build),
        CmdError::File(FileError::WriteReport {
            path: "/r.json".into(),
            source: io("denied"),
        }),
    ])
    .expect_err("two failures");
    assert_eq!(e.exit_status(), 130, "an interrupt wins");
    let skipped_usage = CmdError::Skipped(Box::new(CmdError::Usage(UsageError::ChecksumOfBasePin)));
    assert_eq!(
        skipped_usage.exit_status(),
        1,
        "a skipped edit is not a usage error"
    );
    assert!(CmdError::all(Vec::new()).is_ok());
    let one = CmdError::all(vec![CmdError::Project(ProjectError::NothingPinned)]).expect_err("one");
    assert!(
        matches!(one, CmdError::Project(ProjectError::NothingPinned)),
        "not wrapped"
    );
}
