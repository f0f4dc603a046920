//! Hardening, round two, the files and templates part (issue 18): what a
//! root's files can do to the tool when they are hostile or broken —
//! templates that spin or cannot render, files that are not regular files,
//! planted symlinks, a full disk, a killed edit, a slow download.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{acme_root, outcome, BIN};

/// A nested loop of 10^10 steps: without fuel, it never ends.
const SPIN: &str = "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}";

fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    outcome(
        Command::new(BIN)
            .arg("--root")
            .arg(root)
            .args(args)
            .env("NO_COLOR", "1")
            .env("SOURCE_DATE_EPOCH", "1613131200")
            .stdin(Stdio::null())
            .output()
            .expect("run the tool"),
    )
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

// ------------------------------------------------------------ item 4: fuel

#[test]
fn a_manifest_template_that_spins_is_a_located_error_in_validate_render_and_build() {
    let root = acme_root();
    write(
        root.path(),
        "packages.d/acme-b.toml",
        &format!(
            "name = \"acme/b\"\nrev = \"v1\"\nbuild_type = \"cmake\"\nconfig_flags = [\"-DX={SPIN}\"]\n"
        ),
    );
    for args in [
        &["validate"][..],
        &["render"],
        &["build", "--engine", "/bin/true"],
    ] {
        let start = Instant::now();
        let (code, _, err) = run(root.path(), args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{args:?} took {:?}",
            start.elapsed()
        );
        assert!(err.contains("acme-b.toml"), "{args:?}: {err}");
        assert!(
            err.contains("`config_flags` does not render"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("ran more than 1000000 instructions"),
            "{args:?}: {err}"
        );
        assert!(err.contains("make it small"), "{args:?}: {err}");
    }
}

#[test]
fn a_build_type_that_spins_is_found_by_validate_and_named_by_render() {
    let root = acme_root();
    write(
        root.path(),
        "templates/build-types/make.sh.j2",
        &format!("# make\n{SPIN}make\n"),
    );
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("make.sh.j2:2:1"), "located at its line: {err}");
    assert!(err.contains("ran more than 1000000 instructions"), "{err}");
    let (code, out, err) = run(root.path(), &["render"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("build-types/make.sh.j2 failed for `acme/a`")
            && err.contains("(in build-types/make:2)"),
        "{err}"
    );
}

#[test]
fn a_template_that_writes_too_much_is_an_error_not_a_huge_dockerfile() {
    let root = acme_root();
    write(
        root.path(),
        "templates/build-types/make.sh.j2",
        "make {{ 'x' * 2000000 }}\n",
    );
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the output is over"), "{err}");
    assert!(err.contains("make.sh.j2:1:1"), "{err}");
    let (code, out, err) = run(root.path(), &["render"]);
    assert_eq!((code, out.len()), (1, 0), "{err}");
}

#[test]
fn the_first_sigint_ends_a_validate_that_renders_for_long() {
    // 60 flags of a million instructions each: far more than the run's
    // total fuel, so without the stop it renders for many seconds.
    let root = acme_root();
    let flags: Vec<String> = (0..60).map(|i| format!("\"-D{i}={SPIN}\"")).collect();
    write(
        root.path(),
        "packages.d/acme-b.toml",
        &format!(
            "name = \"acme/b\"\nrev = \"v1\"\nbuild_type = \"cmake\"\nconfig_flags = [{}]\n",
            flags.join(", ")
        ),
    );
    let child = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .arg("validate")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(800));
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let signalled = Instant::now();
    let out = child.wait_with_output().expect("wait");
    let waited = signalled.elapsed();
    let (code, _, err) = outcome(out);
    assert!(
        waited < Duration::from_secs(5),
        "ended {waited:?} after SIGINT"
    );
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted while checking the root"), "{err}");
    assert!(
        !err.contains("not rendered"),
        "no problem report after the stop: {err}"
    );
}

// ------------------------------------------- item 8: validate trial-renders

#[test]
fn validate_finds_templates_that_only_fail_when_rendered() {
    let cases = [
        (
            "templates/build-types/make.sh.j2",
            "make -j{{ jobs }}\n{{ name | int }}\n",
            "make.sh.j2:2:",
            "for `acme/a`",
        ),
        (
            "templates/package.Dockerfile.j2",
            "FROM {{ base_image }}\n{% include 'package' %}\n",
            "package.Dockerfile.j2:2:",
            "recursion limit exceeded",
        ),
        (
            "templates/final.Dockerfile.j2",
            "FROM {{ base_image }}\n{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}\n",
            "final.Dockerfile.j2:2:",
            "recursion limit exceeded",
        ),
    ];
    for (file, text, place, what) in cases {
        let root = acme_root();
        let (code, _, err) = run(root.path(), &["validate"]);
        assert_eq!(code, 0, "the acme root is valid: {err}");
        write(root.path(), file, text);
        let (code, _, err) = run(root.path(), &["validate"]);
        assert_eq!(code, 1, "{file}: {err}");
        assert!(err.contains("template::render"), "{file}: {err}");
        assert!(err.contains(place), "{file}: located at {place}: {err}");
        assert!(err.contains(what), "{file}: {err}");
        assert_eq!(
            err.matches("template::render").count(),
            1,
            "one problem however many packages hit it: {err}"
        );
        // And render agrees: it fails the same way.
        let (code, _, err) = run(root.path(), &["render"]);
        assert_eq!(code, 1, "{file}: {err}");
    }
}

#[test]
fn validate_renders_the_final_stage_for_a_non_root_user_with_a_proxy_too() {
    let root = acme_root();
    let final_ =
        std::fs::read_to_string(root.path().join("templates/final.Dockerfile.j2")).expect("read");
    write(
        root.path(),
        "templates/final.Dockerfile.j2",
        &format!("{final_}{{% if uid != 0 %}}{{{{ username | int }}}}{{% endif %}}\n"),
    );
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("final.Dockerfile.j2 does not render for the final stage"),
        "{err}"
    );
}

#[test]
fn a_bump_that_breaks_a_template_render_is_refused_and_writes_nothing() {
    let root = acme_root();
    // Renders while the rev is a number; a bump to a tag breaks it.
    write(
        root.path(),
        "templates/build-types/make.sh.j2",
        "make -j{{ (rev | int) + 1 }}\n",
    );
    write(
        root.path(),
        "packages.d/acme-a.toml",
        "name = \"acme/a\"\nrev = \"1\"\nbuild_type = \"make\"\n",
    );
    write(
        root.path(),
        "packages.d/acme-b.toml",
        "name = \"acme/b\"\nrev = \"v1\"\nbuild_type = \"cmake\"\n",
    );
    let before = std::fs::read(root.path().join("packages.d/acme-a.toml")).expect("read");
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(root.path(), &["bump", "acme/a", "v2"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("make.sh.j2 does not render for `acme/a`"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(root.path().join("packages.d/acme-a.toml")).expect("read"),
        before
    );
}
