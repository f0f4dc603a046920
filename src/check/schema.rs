//! A manifest against the JSON schema of `model::manifest`: each
//! validation error as a problem that names the field, what it takes and
//! how to write it (an unknown field gets the closest real one, an unknown
//! build type the closest template), then the typed `Manifest`.
//!
//! Owns: compiling the schema of a root's build types, mapping its errors
//! to problems, and deserializing a manifest that meets it. Must not: judge
//! the values the schema lets through (names, revisions, URLs: see
//! `manifest`), or build the schema itself (`model::manifest` does).

use std::collections::HashSet;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::check::diag::Problem;
use crate::check::suggest::closest;
use crate::model::manifest::{self, Manifest};
use crate::model::source::{pointer_child, TomlSource};

/// The manifest schema of a root, compiled once for all its manifests.
pub(super) struct ManifestSchema<'a> {
    validator: jsonschema::Validator,
    build_types: &'a [String],
}

impl<'a> ManifestSchema<'a> {
    /// The schema that limits `build_type` to `build_types`; the
    /// validator's error when it does not compile.
    pub(super) fn compile(
        build_types: &'a [String],
    ) -> Result<Self, jsonschema::ValidationError<'static>> {
        let validator = jsonschema::validator_for(&manifest::schema(build_types))?;
        Ok(ManifestSchema {
            validator,
            build_types,
        })
    }

    /// The typed manifest of `source`, or None after reporting every way it
    /// does not meet the schema (or, meeting it, does not deserialize).
    pub(super) fn typed(
        &self,
        source: &TomlSource,
        problems: &mut Vec<Problem>,
    ) -> Option<Manifest> {
        let schema_problems = schema_problems(source, &self.validator, self.build_types);
        if schema_problems.is_empty() {
            match serde_json::from_value::<Manifest>(source.json.clone()) {
                Ok(m) => Some(m),
                Err(e) => {
                    problems.push(
                        Problem::error(
                            "manifest::invalid",
                            &source.path,
                            format!("invalid manifest: {e}"),
                        )
                        .at(
                            &source.text,
                            Some(source.top_span()),
                            "in this file",
                        ),
                    );
                    None
                }
            }
        } else {
            problems.extend(schema_problems);
            None
        }
    }
}

/// What a field holds, for type errors: as its schema says.
fn expected_type(field: &str) -> &'static str {
    match manifest::fields().iter().find(|f| f.name == field) {
        Some(f) if f.list => "a list of strings",
        _ => "a string",
    }
}

fn schema_problems(
    source: &TomlSource,
    validator: &jsonschema::Validator,
    build_types: &[String],
) -> Vec<Problem> {
    let path = &source.path;
    let mut problems = Vec::new();
    let mut typed_paths = HashSet::new();
    let errors: Vec<_> = validator.iter_errors(&source.json).collect();
    for e in &errors {
        if matches!(e.kind(), ValidationErrorKind::Type { .. }) {
            typed_paths.insert(e.instance_path().as_str().to_owned());
        }
    }
    for e in &errors {
        let pointer = e.instance_path().as_str().to_owned();
        let field = pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let problem = match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let mut p = Problem::error(
                        "manifest::unknown-field",
                        path,
                        format!("unknown field `{key}`"),
                    )
                    .at(
                        &source.text,
                        source.key_span(&pointer_child(&pointer, key)),
                        "not a manifest field",
                    );
                    let fields = manifest::field_names();
                    p = match closest(key, fields.clone()) {
                        Some(s) => p.help(format!("did you mean `{s}`?")),
                        None => p.help(format!(
                            "manifest fields: {}",
                            fields.collect::<Vec<_>>().join(", ")
                        )),
                    };
                    problems.push(p);
                }
                continue;
            }
            ValidationErrorKind::Required { property } => {
                let prop = property.as_str().unwrap_or("?");
                let help = if prop == "build_type" {
                    format!(
                        "add `build_type = \"…\"`, one of: {}",
                        build_types.join(", ")
                    )
                } else {
                    format!("add `{prop} = …` ({})", expected_type(prop))
                };
                Problem::error(
                    "manifest::missing-field",
                    path,
                    format!("missing field `{prop}`"),
                )
                .at(
                    &source.text,
                    Some(source.top_span()),
                    format!("`{prop}` is required"),
                )
                .help(help)
            }
            ValidationErrorKind::Enum { .. } if field == "build_type" => {
                if typed_paths.contains(&pointer) {
                    continue;
                }
                let given = source
                    .json
                    .get("build_type")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let known = build_types.join(", ");
                let help = match closest(given, build_types.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`? Known build types: {known}"),
                    None => format!(
                        "known build types: {known} (each is a template in templates/build-types/)"
                    ),
                };
                Problem::error(
                    "manifest::unknown-build-type",
                    path,
                    format!("unknown build type `{given}`"),
                )
                .at(
                    &source.text,
                    source.value_span(&pointer),
                    "no such build type",
                )
                .help(help)
            }
            ValidationErrorKind::Type { .. } => {
                let is_element = pointer.matches('/').count() > 1;
                let what = if is_element {
                    "each entry of".to_owned()
                } else {
                    String::new()
                };
                let want = if is_element {
                    "a string"
                } else {
                    expected_type(&field)
                };
                let message = if is_element {
                    format!("{what} `{field}` must be a string")
                } else {
                    format!("`{field}` must be {want}")
                };
                Problem::error("manifest::wrong-type", path, message)
                    .at(
                        &source.text,
                        source.value_span(&pointer),
                        format!("expected {want}"),
                    )
                    .help(format!("write `{field}` as {}", example_of(&field)))
            }
            _ => Problem::error("manifest::schema", path, format!("`{field}`: {e}"))
                .at(&source.text, source.value_span(&pointer), "here")
                .help("see schema/package.schema.json for what each field takes"),
        };
        problems.push(problem);
    }
    problems
}

fn example_of(field: &str) -> String {
    match expected_type(field) {
        "a string" => format!("{field} = \"…\""),
        _ => format!("{field} = [\"…\", \"…\"]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_field_holds_is_what_its_schema_says() {
        let lists = [
            "depends",
            "build_steps",
            "config_flags",
            "config_env",
            "custom_post_dl",
            "custom_post_install",
        ];
        for field in lists {
            assert_eq!(expected_type(field), "a list of strings", "{field}");
            assert_eq!(example_of(field), format!("{field} = [\"…\", \"…\"]"));
        }
        for field in ["name", "rev", "url", "sha256", "build_type", "nonsense", ""] {
            assert_eq!(expected_type(field), "a string", "{field}");
            assert_eq!(example_of(field), format!("{field} = \"…\""));
        }
    }

    #[test]
    fn an_unknown_field_like_none_lists_every_field_in_declaration_order() {
        let build_types = ["cmake".to_owned()];
        let schema = ManifestSchema::compile(&build_types).expect("the schema compiles");
        let text = "name = \"a/b\"\nbuild_type = \"cmake\"\nzzzzzz = \"1\"\n";
        let source =
            TomlSource::parse(std::path::Path::new("a-b.toml"), text.into()).expect("valid TOML");
        let mut problems = Vec::new();
        assert!(schema.typed(&source, &mut problems).is_none());
        let helps: Vec<Option<&str>> = problems.iter().map(|p| p.help.as_deref()).collect();
        assert_eq!(
            helps,
            [Some(
                "manifest fields: name, rev, url, sha256, depends, build_type, build_steps, \
                 config_flags, config_env, custom_post_dl, custom_post_install"
            )]
        );
    }
}
