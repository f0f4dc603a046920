//! Byte parity with the original script: every package stage and the final
//! stage equal, byte for byte, what it fed `docker build`
//! (tests/golden/openbmc-2021), for the 2021 root examples/openbmc-2021,
//! given the same base image. Then the same
//! behaviour under configurations the vectors do not show.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;

fn render_into(
    root: &Path,
    out: &Path,
    extra_args: &[&str],
    envs: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let git = fake_git(&["feature"]);
    let mut cmd = tool(git.path());
    cmd.arg("--root")
        .arg(root)
        .arg("render")
        .arg("--out")
        .arg(out)
        .args(extra_args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("run render");
    assert!(
        output.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tags = std::fs::read_to_string(out.join("tags.txt")).expect("tags.txt");
    tags.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, t)| (s.to_owned(), t.to_owned()))
        .collect()
}

fn golden_render(
    extra: &[&str],
    envs: &[(&str, &str)],
) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let out = tempfile::tempdir().expect("tempdir");
    let base = golden_base_tag();
    let mut args = vec!["--base-image", base.as_str()];
    args.extend_from_slice(extra);
    let tags = render_into(&example_2021(), out.path(), &args, envs);
    (out, tags)
}

#[test]
fn every_package_stage_and_the_final_stage_match_the_golden_vectors() {
    let (out, tags) = golden_render(&[], &[]);
    let golden = golden();
    let mut compared = 0;
    for entry in std::fs::read_dir(&golden).expect("golden dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(stage) = name.strip_suffix(".Dockerfile") else {
            continue;
        };
        if stage == "base" {
            continue; // The base stage is the project's own template.
        }
        let expected = std::fs::read(&path).expect("golden file");
        let actual =
            std::fs::read(out.path().join(&name)).unwrap_or_else(|_| panic!("{name} not rendered"));
        assert!(
            expected == actual,
            "{name} differs from the original's:\n--- expected\n{}\n--- actual\n{}",
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&actual)
        );
        compared += 1;
    }
    assert_eq!(compared, 26, "25 package stages and the final stage");

    let golden_tags = std::fs::read_to_string(golden.join("tags.txt")).expect("tags");
    for line in golden_tags.lines() {
        let (stage, tag) = line.split_once(' ').expect("stage tag");
        if stage == "base" {
            assert!(
                !tags.contains_key("base"),
                "--base-image renders no base stage"
            );
            continue;
        }
        assert_eq!(
            tags.get(stage).map(String::as_str),
            Some(tag),
            "tag of {stage}"
        );
    }
}

#[test]
fn render_without_out_prints_every_stage_and_the_tags() {
    let git = fake_git(&[]);
    let output = render_repo(&mut tool(git.path()));
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("### base openbmc/ubuntu-unit-test-base:2021-W06-"));
    assert_eq!(
        text.matches("\n### ").count(),
        27,
        "26 more stages and tags.txt"
    );
    assert!(text.contains("\nfinal openbmc/ubuntu-unit-test:2021-W06-"));
}

/// Runs `cmd` (the tool) as `render` on the repository's own root.
fn render_repo(cmd: &mut Command) -> std::process::Output {
    cmd.arg("--root")
        .arg(example_2021())
        .arg("render")
        .output()
        .expect("run render")
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect(name)
}

#[test]
fn image_name_week_and_cpus_follow_the_environment() {
    let (out, tags) = golden_render(
        &[],
        &[
            ("DOCKER_IMAGE_NAME", "acme/unit"),
            ("SOURCE_DATE_EPOCH", "1767225600"),
            ("BUILD_UNIT_TEST_CPUS", "8"),
        ],
    );
    // 2026-01-01 is in ISO week 1 of 2026.
    assert!(
        tags["final"].starts_with("acme/unit:2026-W01-"),
        "{}",
        tags["final"]
    );
    assert!(tags["openbmc-sdbusplus"].starts_with("acme/unit-openbmc-sdbusplus:2026-W01-"));
    let lcov = read(out.path(), "linux-test-project-lcov.Dockerfile");
    assert!(lcov.contains("&& make -j8 && make install\n"), "{lcov}");
    let linux = read(out.path(), "openbmc-linux.Dockerfile");
    assert!(linux.contains("make -j8 defconfig"), "{linux}");
    // Dependencies refer to the renamed tags.
    let pldm = read(out.path(), "openbmc-pldm.Dockerfile");
    assert!(pldm.contains(&format!(
        "COPY --from={} /usr/local /usr/local\nRUN true\n",
        tags["boost"]
    )));
}

#[test]
fn the_final_stage_sets_up_the_invoking_user_and_proxy_like_the_original() {
    let (out, _) = golden_render(
        &["--uid", "1000", "--gid", "1001"],
        &[
            ("USER", "alice"),
            ("HOME", "/home/alice"),
            ("http_proxy", "http://proxy.example:3128"),
        ],
    );
    let fin = read(out.path(), "final.Dockerfile");
    let tail = "# Final configuration for the workspace\n\
RUN grep -q 1001 /etc/group || groupadd -g 1001 alice\n\
RUN mkdir -p \"/home\"\n\
RUN grep -q 1000 /etc/passwd || useradd -d /home/alice -m -u 1000 -g 1001 alice\n\
RUN sed -i '1iDefaults umask=000' /etc/sudoers\n\
RUN echo \"alice ALL=(ALL) NOPASSWD: ALL\" >>/etc/sudoers\n\
\n\
\n\
RUN echo \"[http]\" >> /home/alice/.gitconfig &&     echo \"proxy = http://proxy.example:3128\" >> /home/alice/.gitconfig\n\
\n\
\n\
RUN /bin/bash\n";
    assert!(fin.ends_with(tail), "final stage tail:\n{fin}");
}

#[test]
fn branch_and_gerrit_pick_the_revision_of_unpinned_packages() {
    let sha1 = |s: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' '{s}' | sha1sum | cut -d' ' -f1"))
            .output()
            .expect("sha1sum");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (out, _) = golden_render(
        &[],
        &[
            ("BRANCH", "feature"),
            ("GERRIT_PROJECT", "openbmc/sdbusplus"),
            (
                "GERRIT_PATCHSET_REVISION",
                "0123456789abcdef0123456789abcdef01234567",
            ),
        ],
    );
    let stdplus = read(out.path(), "openbmc-stdplus.Dockerfile");
    assert!(
        stdplus.contains(&format!(
            "archive/{}.tar.gz",
            sha1("openbmc/stdplus@feature")
        )),
        "{stdplus}"
    );
    let sdbusplus = read(out.path(), "openbmc-sdbusplus.Dockerfile");
    assert!(sdbusplus.contains("archive/0123456789abcdef0123456789abcdef01234567.tar.gz"));
    let fin = read(out.path(), "final.Dockerfile");
    assert!(fin.contains("openbmc/sdbusplus:0123456789abcdef0123456789abcdef01234567,"));
    // A branch that does not exist falls back to master.
    let (out, _) = golden_render(&[], &[("BRANCH", "nope")]);
    let stdplus = read(out.path(), "openbmc-stdplus.Dockerfile");
    assert!(stdplus.contains(&format!(
        "archive/{}.tar.gz",
        sha1("openbmc/stdplus@master")
    )));
}

#[test]
fn a_failed_lookup_names_the_package_and_the_command() {
    let git = tempfile::tempdir().expect("tempdir");
    let script = git.path().join("git");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'fatal: repository not found' >&2\nexit 128\n",
    )
    .expect("write");
    make_executable(&script);
    let output = render_repo(&mut tool(git.path()));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("open-power/pdbg"), "{err}");
    assert!(
        err.contains("ls-remote --heads https://github.com/open-power/pdbg"),
        "{err}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn base_stage_takes_its_pins_and_options() {
    let out = tempfile::tempdir().expect("tempdir");
    let tags = render_into(
        &example_2021(),
        out.path(),
        &[],
        &[
            ("DISTRO", "ubuntu:jammy"),
            ("UBUNTU_MIRROR", "http://mirror.example/ubuntu"),
            ("BUILD_URL", "https://ci/job/1"),
        ],
    );
    let base = read(out.path(), "base.Dockerfile");
    assert!(base.contains("\nFROM ubuntu:jammy\n"), "{base}");
    assert!(base.contains(
        "deb http://mirror.example/ubuntu $(. /etc/os-release && echo $VERSION_CODENAME)-updates"
    ));
    assert!(base.contains("RUN echo 2021-W06\nRUN apt-get update && apt-get dist-upgrade -yy\n"));
    assert!(base.contains("RUN pip3 install meson==0.54.3\n"));
    assert!(base.contains("gcc-10"));
    let out2 = tempfile::tempdir().expect("tempdir");
    render_into(
        &example_2021(),
        out2.path(),
        &[],
        &[("DOCKER_REG", "public.ecr.aws/ubuntu")],
    );
    assert!(read(out2.path(), "base.Dockerfile")
        .contains("\nFROM public.ecr.aws/ubuntu/ubuntu:focal\n"));
    // Every package stage starts FROM the base tag.
    let fmt = read(out.path(), "fmtlib-fmt.Dockerfile");
    assert!(fmt.starts_with(&format!("\nFROM {}\n", tags["base"])));
}

#[test]
fn make_jobs_default_to_the_cpus_this_process_may_use() {
    let git = fake_git(&[]);
    let Some(mut cmd) = tool_on_cpu0(git.path()) else {
        eprintln!("taskset not installed: skipped");
        return;
    };
    let out = cmd
        .env_remove("BUILD_UNIT_TEST_CPUS")
        .arg("--root")
        .arg(example_2021())
        .arg("render")
        .output()
        .expect("run under taskset");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cd lcov* && make -j1 && make install\n"),
        "{text}"
    );
    // OMP_NUM_THREADS raises it, as it does nproc's answer.
    let out = render_repo(
        tool(git.path())
            .env_remove("BUILD_UNIT_TEST_CPUS")
            .env("OMP_NUM_THREADS", "5"),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cd lcov* && make -j5 && make install\n"));
}
