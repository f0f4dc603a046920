//! Values that would add lines to a Dockerfile or break its RUN line never
//! reach the engine, whatever their source: variables and flags are
//! refused before anything is rendered (exit 2), manifests by `validate`
//! with the file and line (exit 1).

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::Path;

use common::*;

/// A fake engine that records that it was called at all.
fn engine(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("engine");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}/called\nexit 0\n",
            dir.display()
        ),
    )
    .expect("write engine");
    make_executable(&path);
    path
}

/// What is named in the error, the variable set (if any), the flags given.
type Case<'a> = (&'a str, Option<(&'a str, String)>, Vec<String>);

#[test]
fn a_newline_or_a_bad_name_in_a_variable_or_flag_is_refused_before_any_build() {
    let git = fake_git(&[]);
    let payload = "\nRUN touch /pwn";
    let cases: Vec<Case> = vec![
        (
            "DISTRO",
            Some(("DISTRO", format!("ubuntu:resolute{payload}"))),
            vec![],
        ),
        (
            "DOCKER_IMAGE_NAME",
            Some(("DOCKER_IMAGE_NAME", format!("acme/unit{payload}"))),
            vec![],
        ),
        (
            "UBUNTU_MIRROR",
            Some(("UBUNTU_MIRROR", format!("http://m/u{payload}"))),
            vec![],
        ),
        (
            "DOCKER_REG",
            Some(("DOCKER_REG", format!("docker.io{payload}"))),
            vec![],
        ),
        (
            "--base-image",
            None,
            vec!["--base-image".to_owned(), format!("base:1{payload}")],
        ),
        (
            "--distro",
            None,
            vec!["--distro".to_owned(), format!("x{payload}")],
        ),
        (
            "DOCKER_IMAGE_NAME",
            Some(("DOCKER_IMAGE_NAME", "Acme/Unit".to_owned())),
            vec![],
        ),
        (
            "DOCKER_IMAGE_NAME",
            Some(("DOCKER_IMAGE_NAME", "acme unit".to_owned())),
            vec![],
        ),
        (
            "http_proxy",
            Some(("http_proxy", format!("http://p:3128{payload}"))),
            vec![],
        ),
    ];
    for (what, env, args) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path());
        let mut cmd = tool(git.path());
        cmd.arg("--root")
            .arg(repo())
            .arg("build")
            .arg("--engine")
            .arg(&engine)
            .args(&args);
        if let Some((k, v)) = &env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(out.stdout.is_empty(), "{what}");
        assert!(stderr.contains(what), "{what} named: {stderr}");
        assert!(
            !dir.path().join("called").exists(),
            "{what}: the engine was called"
        );
        // render refuses it the same way.
        let mut cmd = tool(git.path());
        cmd.arg("--root").arg(repo()).arg("render").args(&args);
        if let Some((k, v)) = &env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(2), "render, {what}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("/pwn"));
    }
}

fn validate_with(manifest: &str) -> (i32, String) {
    let root = copy_root(&repo());
    std::fs::write(root.path().join("packages.d/acme-widget.toml"), manifest).expect("write");
    let (code, _, stderr) = validate_root(root.path());
    (code, stderr)
}

#[test]
fn an_unquoted_space_in_config_env_is_refused_with_the_quoted_form() {
    let (code, err) = validate_with(
        "name = \"acme/widget\"\nrev = \"1.0\"\nbuild_type = \"cmake\"\nconfig_env = [\"CFLAGS=-O2 -g\"]\n",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("acme-widget.toml:4"), "{err}");
    assert!(err.contains("space outside quotes"), "{err}");
    assert!(err.contains("CFLAGS=\"-O2 -g\""), "{err}");
    let (code, err) = validate_with(
        "name = \"acme/widget\"\nrev = \"1.0\"\nbuild_type = \"cmake\"\nconfig_env = ['CFLAGS=\"-O2 -g\"']\n",
    );
    assert_eq!(code, 0, "quoted is fine: {err}");
}

#[test]
fn a_hash_that_would_comment_out_the_rest_of_the_run_line_is_refused() {
    for (field, value) in [
        ("build_steps", "make # all"),
        ("custom_post_dl", "#cd tools"),
        ("custom_post_install", "ldconfig #x"),
    ] {
        let build_type = if field == "build_steps" {
            "custom"
        } else {
            "make"
        };
        let (code, err) = validate_with(&format!(
            "name = \"acme/widget\"\nrev = \"1.0\"\nbuild_type = \"{build_type}\"\n{field} = [\"{value}\"]\n"
        ));
        assert_eq!(code, 1, "{field}: {err}");
        assert!(err.contains("acme-widget.toml:4"), "{field}: {err}");
        assert!(err.contains("comment"), "{field}: {err}");
    }
    let (code, err) = validate_with(
        "name = \"acme/widget\"\nrev = \"1.0\"\nbuild_type = \"cmake\"\nconfig_flags = [\"-DX=1 #y\"]\n",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("comment"), "{err}");
}

#[test]
fn a_manifest_symlink_out_of_the_root_is_refused_without_echoing_its_content() {
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("secret.toml");
    std::fs::write(&secret, "name = \"TOP-SECRET-VALUE\nbroken").expect("write");
    let root = copy_root(&repo());
    std::os::unix::fs::symlink(&secret, root.path().join("packages.d/acme-evil.toml"))
        .expect("symlink");
    let (code, _, stderr) = validate_root(root.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("outside the project root"), "{stderr}");
    assert!(!stderr.contains("TOP-SECRET"), "{stderr}");
    // A link inside the root is fine.
    let root = copy_root(&repo());
    let pkgs = root.path().join("packages.d");
    std::fs::rename(pkgs.join("boost.toml"), root.path().join("boost.toml")).expect("move");
    std::os::unix::fs::symlink("../boost.toml", pkgs.join("boost.toml")).expect("symlink");
    let (code, _, stderr) = validate_root(root.path());
    assert_eq!(code, 0, "{stderr}");
}
