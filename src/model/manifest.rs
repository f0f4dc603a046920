//! The package manifest: one TOML file in `packages.d/` per source package.
//!
//! Owns: the typed manifest (serde + schemars, its doc comments are the
//! schema's descriptions), the JSON schema built from it, the list of its
//! fields read from that schema, and the rule that maps a package name to
//! its stage and file name. Must not: read files (see `sources`) or judge
//! semantics (see `check`).

use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One source package, built in its own Docker stage and installed into the
/// prefix (`/usr/local`) that the final image copies in.
///
/// Strings marked as templates may use `{{ prefix }}` (the install prefix),
/// `{{ jobs }}` (the CPUs the build may use), `{{ name }}` and `{{ rev }}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "build-unit-test-docker package manifest")]
pub struct Manifest {
    /// Package name: the GitHub `owner/repo` the source comes from (e.g.
    /// `openbmc/sdbusplus`), or a bare name when `url` says where it is (e.g.
    /// `boost`). The file must be named after it: lower-cased, `/` → `-`, plus
    /// `.toml` (`openbmc-sdbusplus.toml`).
    pub name: String,

    /// Revision to build: a tag, branch or commit. Without it, the head of
    /// BRANCH (else `master`, else `main`) is looked up with `git ls-remote` at
    /// build time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,

    /// Source tarball URL (template over `name` and `rev`, e.g.
    /// `https://example.org/{{ rev }}/{{ name }}_{{ rev | replace('.', '_') }}.tar.bz2`).
    /// Must be http(s) and end in `.tar.gz` or `.tar.bz2`.
    /// Default: `https://github.com/{{ name }}/archive/{{ rev }}.tar.gz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// Optional SHA-256 of the tarball (64 lower-case hex digits). When set,
    /// the download is checked before it is unpacked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,

    /// Packages whose installed files this one needs at build time (their
    /// `name`s). Their stages are copied in first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,

    /// How the package is built: the name of a template in
    /// `templates/build-types/` (autoconf, autogen, cmake, custom, make, meson, …).
    pub build_type: String,

    /// Shell steps for build types that take them (`custom`), joined with
    /// `&&`. Templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_steps: Option<Vec<String>>,

    /// Options for the configure tool (configure, cmake, meson, autogen.sh).
    /// Templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_flags: Vec<String>,

    /// `NAME=value` environment settings put before the configure command.
    /// Templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_env: Vec<String>,

    /// Shell steps run in the source directory after download, before the
    /// build. Templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_post_dl: Vec<String>,

    /// Shell steps run after the install. Templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_post_install: Vec<String>,
}

impl Manifest {
    /// The fields that are set, as serialization tells: an empty list is
    /// not (but `build_steps = []`, an option, is).
    pub fn set_fields(&self) -> Vec<String> {
        match serde_json::to_value(self) {
            Ok(Value::Object(json)) => json.into_iter().map(|(name, _)| name).collect(),
            _ => Vec::new(),
        }
    }
}

/// A field of the manifest, as its schema declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// Whether it holds a list (of strings) rather than a string.
    pub list: bool,
}

/// The fields a manifest may have, in declaration order, read once from the
/// schema of [`Manifest`]: the one list of them, for "did you mean"
/// suggestions and for saying what a field holds.
pub fn fields() -> &'static [Field] {
    static FIELDS: LazyLock<Vec<Field>> = LazyLock::new(|| {
        let schema = schemars::schema_for!(Manifest).to_value();
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        properties
            .iter()
            .map(|(name, property)| Field {
                name: name.clone(),
                list: holds_a_list(property),
            })
            .collect()
    });
    &FIELDS
}

/// The names of [`fields`], in declaration order.
pub fn field_names() -> impl Iterator<Item = &'static str> + Clone {
    fields().iter().map(|f| f.name.as_str())
}

/// Whether a property's schema takes an array (`"type": "array"`, or
/// `["array", "null"]` for an optional list).
fn holds_a_list(property: &Value) -> bool {
    match property.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(types)) => types.iter().any(|t| t == "array"),
        _ => false,
    }
}

/// Whether `rev` is a full commit id as git prints it: 40 hex digits
/// (SHA-1) or 64 (a SHA-256 repository). The one rule for "a pin at a
/// commit, not a release": `outdated`, the version comparison and the
/// parsing of `git ls-remote` all ask it.
pub fn is_commit_id(rev: &str) -> bool {
    (rev.len() == 40 || rev.len() == 64) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The URL used when a manifest has none.
pub const DEFAULT_URL: &str = "https://github.com/{{ name }}/archive/{{ rev }}.tar.gz";

/// The stage name of a package: `/` → `-`, lower-cased (the original's rule).
pub fn stage_name(package: &str) -> String {
    package.replace('/', "-").to_lowercase()
}

/// The file name a package's manifest must have.
pub fn file_name(package: &str) -> String {
    format!("{}.toml", stage_name(package))
}

/// The JSON schema of a manifest, with `build_type` limited to `build_types`.
pub fn schema(build_types: &[String]) -> Value {
    let mut schema = schemars::schema_for!(Manifest).to_value();
    if let Some(bt) = schema
        .pointer_mut("/properties/build_type")
        .and_then(Value::as_object_mut)
    {
        bt.insert("enum".to_owned(), Value::from(build_types.to_vec()));
    }
    schema
}

/// The schema as the committed `schema/package.schema.json` holds it.
pub fn schema_text(build_types: &[String]) -> String {
    let mut text = serde_json::to_string_pretty(&schema(build_types)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_follow_the_original() {
        assert_eq!(stage_name("CLIUtils/CLI11"), "cliutils-cli11");
        assert_eq!(stage_name("boost"), "boost");
        assert_eq!(file_name("nlohmann/fifo_map"), "nlohmann-fifo_map.toml");
    }

    #[test]
    fn schema_lists_build_types_and_forbids_unknown_fields() {
        let s = schema(&["cmake".to_owned(), "meson".to_owned()]);
        assert_eq!(
            s["properties"]["build_type"]["enum"],
            serde_json::json!(["cmake", "meson"])
        );
        assert_eq!(s["additionalProperties"], Value::Bool(false));
        assert!(s["properties"]["rev"]["description"]
            .as_str()
            .unwrap_or("")
            .contains("ls-remote"));
    }

    #[test]
    fn the_fields_are_the_schema_s_in_declaration_order() {
        let list = || vec!["x".to_owned()];
        let every = Manifest {
            name: "a/b".to_owned(),
            rev: Some("v1".to_owned()),
            url: Some(DEFAULT_URL.to_owned()),
            sha256: Some("0".repeat(64)),
            depends: list(),
            build_type: "cmake".to_owned(),
            build_steps: Some(list()),
            config_flags: list(),
            config_env: list(),
            custom_post_dl: list(),
            custom_post_install: list(),
        };
        // serde writes every set field in declaration order, lists as arrays.
        let json = serde_json::to_value(&every).expect("serializable");
        let serialized: Vec<(&str, bool)> = json
            .as_object()
            .expect("an object")
            .iter()
            .map(|(name, value)| (name.as_str(), value.is_array()))
            .collect();
        let fields: Vec<(&str, bool)> =
            fields().iter().map(|f| (f.name.as_str(), f.list)).collect();
        assert_eq!(fields, serialized);
        assert!(field_names().eq(serialized.iter().map(|(name, _)| *name)));
    }

    #[test]
    fn a_field_is_set_when_serialization_writes_it() {
        let mut m: Manifest =
            serde_json::from_value(serde_json::json!({"name": "a/b", "build_type": "cmake"}))
                .expect("a manifest");
        assert_eq!(m.set_fields(), ["name", "build_type"]);
        m.config_flags = vec!["-DA=1".to_owned()];
        m.build_steps = Some(Vec::new());
        assert_eq!(
            m.set_fields(),
            ["name", "build_type", "build_steps", "config_flags"]
        );
    }

    #[test]
    fn a_commit_id_is_40_or_64_hex_digits() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        let sha256 = "80a08ab3618ea6b4d3928d804c3eae0a9568558eea4d32b83e2497a85a694923";
        assert!(is_commit_id(sha1) && is_commit_id(sha256));
        assert!(is_commit_id(&sha1.to_uppercase()));
        for not in [
            "",
            "v1.0.0",
            &sha1[..39],
            &sha256[..63],
            &format!("{sha1}0"),
            "g123456789abcdef0123456789abcdef01234567",
        ] {
            assert!(!is_commit_id(not), "{not}");
        }
    }
}
