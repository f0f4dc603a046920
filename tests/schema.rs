//! The committed schema is what the Rust types generate, and build types
//! are data: a new template file is a new valid build type, no Rust change.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::process::Command;

use common::*;

#[test]
fn committed_schema_is_not_stale() {
    let out = Command::new(BIN)
        .arg("--root")
        .arg(repo())
        .arg("schema")
        .output()
        .expect("run");
    assert!(out.status.success());
    let committed = std::fs::read_to_string(repo().join("schema/package.schema.json"))
        .expect("committed schema");
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "schema/package.schema.json is stale: run `build-unit-test-docker schema > schema/package.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("JSON");
    assert_eq!(
        schema["properties"]["build_type"]["enum"],
        serde_json::json!(["autoconf", "autogen", "cmake", "custom", "make", "meson"])
    );
    // Doc comments of the Rust types are the descriptions editors show.
    let depends = schema["properties"]["depends"]["description"]
        .as_str()
        .unwrap_or("");
    assert!(
        depends.starts_with("Packages whose installed files this one needs"),
        "{depends}"
    );
}

#[test]
fn every_shipped_manifest_points_editors_at_the_schema() {
    for entry in std::fs::read_dir(repo().join("packages.d")).expect("dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("#:schema ../schema/package.schema.json\n"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_new_build_type_is_a_template_file() {
    let root = shipped_root();
    std::fs::write(
        root.path().join("templates/build-types/scons.sh.j2"),
        "{#- scons: build and install with SCons. -#}\nscons -j{{ jobs }} {{ config_flags | join(\" \") }} PREFIX={{ prefix }} install\n",
    )
    .expect("write");
    std::fs::write(
        root.path().join("packages.d/acme-tool.toml"),
        "name = \"acme/tool\"\nrev = \"v1\"\nbuild_type = \"scons\"\nconfig_flags = [\"--opt\"]\n",
    )
    .expect("write");
    let git = fake_git(&[]);
    let out = tool(git.path())
        .arg("--root")
        .arg(root.path())
        .arg("validate")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tool(git.path())
        .arg("--root")
        .arg(root.path())
        .arg("render")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("RUN curl -L https://github.com/acme/tool/archive/v1.tar.gz | tar -xz && cd tool* && scons -j2 --opt PREFIX=/usr/local install\n"),
        "{text}"
    );
    let out = tool(git.path())
        .arg("--root")
        .arg(root.path())
        .arg("schema")
        .output()
        .expect("run");
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(schema["properties"]["build_type"]["enum"]
        .as_array()
        .is_some_and(|a| a.contains(&"scons".into())));
}
