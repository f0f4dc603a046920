//! `prune`: removes this tool's tags of weeks before the current one, from
//! the engine or (`--cache-registry REF`) from a registry, and prints what
//! went (a listing or JSON on stdout, nothing else there).
//!
//! Owns: the settings a prune reads (the image name and "today", through
//! the same code as build's), the credentials files it names, the
//! listing's wording and JSON. Must not: load the project (a prune needs
//! no valid packages.d and no lookups) or decide which tags go (that is
//! `crate::plan::prune`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::cli::{PruneArgs, PruneFormat, RenderArgs};
use crate::model::settings::{self, CpuCount};
use crate::plan::prune::Retention;
use crate::run::engine::{DockerCli, EngineError};
use crate::run::prune::{kept_weeks, prune_local, CallError, LocalOutcome};
use crate::run::registry_api::{self, Api, ApiError, Listed, RegistryOutcome};

use super::{BuildError, CmdError, Interruption};

pub fn run(root: &Path, args: &PruneArgs) -> Result<(), CmdError> {
    // The image name and the week, exactly as a build computes them.
    let render = RenderArgs {
        image_name: args.image_name.clone(),
        gerrit_url: settings::DEFAULT_GERRIT_URL.to_owned(),
        gerrit_timeout: 30,
        ..RenderArgs::default()
    };
    let settings = super::settings(&render, false, CpuCount::Affinity)?;
    let retention = Retention {
        current: settings.week,
        keep_weeks: args.keep_weeks,
    };
    let engine = || -> Result<DockerCli, CmdError> {
        Ok(DockerCli::detect(args.engine.clone())?
            .with_query_timeout(Duration::from_secs(args.engine_timeout.max(1))))
    };
    match args.cache_registry.as_deref().filter(|r| !r.is_empty()) {
        None => local(&engine()?, &settings.image_name, &retention, args),
        // The registry's machine may have no engine: then both engines'
        // credential files are read.
        Some(reference) => {
            let engine = match (engine(), &args.engine) {
                (Ok(e), _) => Some(e),
                (Err(e), Some(_)) => return Err(e),
                (Err(_), None) => None,
            };
            registry(
                root,
                engine.as_ref(),
                reference,
                &settings.image_name,
                &retention,
                args,
            )
        }
    }
}

fn interrupted(e: CallError) -> CmdError {
    match e {
        CallError::Engine(EngineError::Cancelled) => CmdError::Interrupted(Interruption::Prune),
        e => e.into(),
    }
}

/// `1.23 GB`, in the decimal units the engines print.
pub(crate) fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// The first 12 characters of an image id, as the engines show it.
fn short(id: &str) -> &str {
    id.char_indices().nth(12).map_or(id, |(i, _)| &id[..i])
}

fn local(
    engine: &DockerCli,
    image: &str,
    retention: &Retention,
    args: &PruneArgs,
) -> Result<(), CmdError> {
    let out = prune_local(engine, image, retention, args.dry_run).map_err(interrupted)?;
    let engine_name = engine
        .program
        .file_name()
        .map_or_else(|| "engine".to_owned(), |n| n.to_string_lossy().into_owned());
    // Names come from the engine: a table shows them printable (JSON
    // escapes them itself).
    let text = match args.format {
        PruneFormat::Json => local_json(&out, image, retention, args.dry_run, engine),
        PruneFormat::Table => crate::printable::printable_str(&local_text(
            &out,
            image,
            retention,
            args.dry_run,
            &engine_name,
        )),
    };
    super::print_out(text)?;
    if out.failed.is_empty() {
        Ok(())
    } else {
        Err(BuildError::PruneRemovals {
            failures: out.failed,
        }
        .into())
    }
}

fn deleted_bytes(out: &LocalOutcome) -> u64 {
    out.removed
        .iter()
        .filter(|r| r.deleted)
        .filter_map(|r| r.image.size)
        .sum()
}

fn local_text(
    out: &LocalOutcome,
    image: &str,
    retention: &Retention,
    dry_run: bool,
    engine: &str,
) -> String {
    let mut s = String::new();
    let (remove, untag) = if dry_run {
        ("would remove", "would untag")
    } else {
        ("removed", "untagged")
    };
    for r in &out.removed {
        let size = r
            .image
            .size
            .map(human)
            .unwrap_or_else(|| "size unknown".to_owned());
        for tag in &r.image.tags {
            if r.deleted {
                s.push_str(&format!(
                    "{remove:<12} {tag}  (image {} deleted, {size})\n",
                    short(&r.image.id)
                ));
            } else {
                let stays = if r.image.stays_as.is_empty() {
                    "the engine keeps it, as it does while an image built on it exists".to_owned()
                } else {
                    format!("still tagged {}", r.image.stays_as.join(", "))
                };
                s.push_str(&format!(
                    "{untag:<12} {tag}  (image {} stays: {stays})\n",
                    short(&r.image.id)
                ));
            }
        }
    }
    for tag in &out.gone {
        s.push_str(&format!(
            "{:<12} {tag}  (removed meanwhile, by another prune?)\n",
            "gone"
        ));
    }
    for u in &out.plan.in_use {
        for tag in &u.tags {
            s.push_str(&format!(
                "{:<12} {tag}  (image {} is used by container {})\n",
                "left",
                short(&u.id),
                u.containers.join(", ")
            ));
        }
    }
    let tags: usize = out.removed.iter().map(|r| r.image.tags.len()).sum();
    let deleted = out.removed.iter().filter(|r| r.deleted).count();
    let untagged = out.removed.len() - deleted;
    let weeks = kept_weeks(retention);
    let held = if out.plan.in_use.is_empty() {
        String::new()
    } else {
        format!(
            ", {} image(s) left because a container uses them",
            out.plan.in_use.len()
        )
    };
    if tags == 0 {
        s.push_str(&format!(
            "nothing to prune for {image}: {} tag(s) of {weeks} kept{held}\n",
            out.plan.kept
        ));
        return s;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    s.push_str(&format!(
        "{}{verb} {tags} tag(s) of {image} from before {weeks}: {deleted} image(s) {}deleted, \
         {untagged} only untagged{held}; {} tag(s) kept\n",
        if dry_run { "dry run: " } else { "" },
        if dry_run { "would be " } else { "" },
        out.plan.kept
    ));
    let bytes = deleted_bytes(out);
    if dry_run {
        s.push_str(&format!(
            "space: `{engine} image inspect` sizes the {deleted} image(s) that would be deleted \
             at {} in all, counting in each the layers they share (with each other and with the \
             images that stay), so less is freed; nothing was changed\n",
            human(bytes)
        ));
        return s;
    }
    match out.storage {
        Some((before, after)) => s.push_str(&format!(
            "space: `{engine} system df` counted the images at {} before and {} after ({}; \
             builds or removals by others meanwhile count in it too)",
            human(before),
            human(after),
            if after > before {
                format!("{} more", human(after - before))
            } else {
                format!("{} freed", human(before - after))
            }
        )),
        None => s.push_str("space: `system df` did not say what the images take"),
    }
    s.push_str(&format!(
        "; `{engine} image inspect` sized the {deleted} deleted image(s) at {} in all, counting \
         in each the layers they shared\n",
        human(bytes)
    ));
    s
}

fn local_json(
    out: &LocalOutcome,
    image: &str,
    retention: &Retention,
    dry_run: bool,
    engine: &DockerCli,
) -> String {
    let removed: Vec<_> = out
        .removed
        .iter()
        .map(|r| {
            json!({
                "image_id": r.image.id,
                "tags": r.image.tags,
                "deleted": r.deleted,
                "stays_as": r.image.stays_as,
                "size_bytes": r.image.size,
            })
        })
        .collect();
    let in_use: Vec<_> = out
        .plan
        .in_use
        .iter()
        .map(|u| json!({ "image_id": u.id, "tags": u.tags, "containers": u.containers }))
        .collect();
    let failed: Vec<_> = out
        .failed
        .iter()
        .map(|(tag, error)| json!({ "tag": tag, "error": error }))
        .collect();
    let value = json!({
        "image_name": image,
        "engine": engine.program.display().to_string(),
        "current_week": retention.current.stamp(),
        "oldest_kept_week": retention.oldest_kept().map(|w| w.stamp()),
        "dry_run": dry_run,
        "removed": removed,
        "in_use": in_use,
        "kept_tags": out.plan.kept,
        "failed": failed,
        "gone": out.gone,
        "deleted_images_bytes": deleted_bytes(out),
        "image_storage_bytes": out.storage.map(|(before, after)| json!({"before": before, "after": after})),
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    )
}

/// The files the engine keeps registry credentials in, in the order it
/// reads them (without an engine: podman's, then docker's).
fn auth_files(engine: Option<&DockerCli>) -> Vec<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = var("HOME");
    let docker = var("DOCKER_CONFIG")
        .map(|d| d.join("config.json"))
        .or_else(|| home.as_ref().map(|h| h.join(".docker/config.json")));
    let is_podman = engine.is_none_or(|e| {
        e.program
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("podman"))
    });
    let mut files = Vec::new();
    if is_podman {
        files.extend(var("REGISTRY_AUTH_FILE"));
        files.extend(var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
        files.extend(
            var("XDG_CONFIG_HOME")
                .or_else(|| home.as_ref().map(|h| h.join(".config")))
                .map(|d| d.join("containers/auth.json")),
        );
    }
    files.extend(docker);
    files
}

/// The repositories to ask for when the registry lists none: the stages
/// of the root (its packages.d file names, read without parsing them),
/// `base` and the final image; each also under `platform` (`linux-amd64`,
/// where a build's cache pushes put them) when the engine says it.
fn derived_repositories(root: &Path, image: &str, platform: Option<&str>) -> Vec<String> {
    let mut names = vec![image.to_owned(), format!("{image}-base")];
    if let Ok(entries) = std::fs::read_dir(root.join("packages.d")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stage) = name.strip_suffix(".toml") {
                names.push(format!("{image}-{stage}"));
            }
        }
    }
    if let Some(platform) = platform {
        let under: Vec<String> = names.iter().map(|n| format!("{platform}/{n}")).collect();
        names.extend(under);
    }
    names
}

fn registry(
    root: &Path,
    engine: Option<&DockerCli>,
    reference: &str,
    image: &str,
    retention: &Retention,
    args: &PruneArgs,
) -> Result<(), CmdError> {
    let reference = super::registry_reference(reference, "--cache-registry")?;
    let (host, path) = reference.split_once('/').unwrap_or((reference, ""));
    let timeout = Duration::from_secs(args.cache_timeout.max(1));
    let basic = registry_api::credentials(host, &auth_files(engine), timeout)
        .map_err(BuildError::RegistryCredentials)?;
    let api = Api::new(host, basic, timeout);
    let out = registry_api::prune_registry(&api, path, image, retention, args.dry_run, || {
        // The platform part a build's pushes name the stages under.
        let platform = engine
            .and_then(|e| e.platform().ok())
            .and_then(|said| crate::run::registry::Remote::new(reference, &said).ok())
            .map(|r| r.platform().to_owned());
        derived_repositories(root, image, platform.as_deref())
    })
    .map_err(|e| match e {
        ApiError::Cancelled => CmdError::Interrupted(Interruption::Prune),
        e => BuildError::Registry(e).into(),
    })?;
    if let Listed::Derived(why) = &out.listed {
        let _ = writeln!(
            std::io::stderr(),
            "warning: the registry does not list its repositories ({}); asked for the \
             stages of {} instead",
            crate::printable::printable_str(why),
            root.join("packages.d").display()
        );
    }
    // Tags and names come from the registry: shown printable.
    let text = match args.format {
        PruneFormat::Json => registry_json(&out, reference, image, retention, args.dry_run),
        PruneFormat::Table => crate::printable::printable_str(&registry_text(
            &out,
            reference,
            image,
            retention,
            args.dry_run,
        )),
    };
    super::print_out(text)?;
    Ok(())
}

fn registry_text(
    out: &RegistryOutcome,
    reference: &str,
    image: &str,
    retention: &Retention,
    dry_run: bool,
) -> String {
    let host = reference.split('/').next().unwrap_or(reference);
    let mut s = String::new();
    let verb = if dry_run { "would delete" } else { "deleted" };
    let (mut tags, mut manifests, mut kept, mut shared) = (0, 0, 0, 0);
    for r in &out.repositories {
        kept += r.kept;
        for d in &r.deleted {
            manifests += 1;
            for t in &d.tags {
                tags += 1;
                s.push_str(&format!(
                    "{verb:<12} {host}/{}:{t}  ({})\n",
                    r.repository, d.digest
                ));
            }
        }
        for d in &r.gone {
            for t in &d.tags {
                s.push_str(&format!(
                    "{:<12} {host}/{}:{t}  ({}: deleted meanwhile)\n",
                    "gone", r.repository, d.digest
                ));
            }
        }
        for sh in &r.shared {
            shared += 1;
            for t in &sh.old_tags {
                s.push_str(&format!(
                    "{:<12} {host}/{}:{t}  ({} is also the manifest of {}, which stays)\n",
                    "left",
                    r.repository,
                    sh.digest,
                    sh.kept_tags.join(", ")
                ));
            }
        }
    }
    let weeks = kept_weeks(retention);
    let repos = out.repositories.len();
    if tags == 0 {
        s.push_str(&format!(
            "nothing to prune for {image} in {reference}: {kept} tag(s) of {weeks} kept in \
             {repos} repositor{}{}\n",
            if repos == 1 { "y" } else { "ies" },
            if shared > 0 {
                format!(", {shared} old manifest(s) left: a tag that stays shares them")
            } else {
                String::new()
            }
        ));
        return s;
    }
    s.push_str(&format!(
        "{}{verb} {manifests} manifest(s) ({tags} tag(s)) of {image} from before {weeks} in \
         {repos} repositor{} of {reference}; {kept} tag(s) kept{}\n",
        if dry_run { "dry run: " } else { "" },
        if repos == 1 { "y" } else { "ies" },
        if shared > 0 {
            format!(", {shared} old manifest(s) left: a tag that stays shares them")
        } else {
            String::new()
        }
    ));
    s.push_str(if dry_run {
        "nothing was changed\n"
    } else {
        "space: the registry frees the blobs only when its garbage collection runs \
         (Docker Distribution: `registry garbage-collect config.yml`)\n"
    });
    s
}

fn registry_json(
    out: &RegistryOutcome,
    reference: &str,
    image: &str,
    retention: &Retention,
    dry_run: bool,
) -> String {
    let mut deleted = Vec::new();
    let mut gone = Vec::new();
    let mut shared = Vec::new();
    for r in &out.repositories {
        for d in &r.deleted {
            deleted.push(json!({"repository": r.repository, "digest": d.digest, "tags": d.tags}));
        }
        for d in &r.gone {
            gone.push(json!({"repository": r.repository, "digest": d.digest, "tags": d.tags}));
        }
        for sh in &r.shared {
            shared.push(json!({
                "repository": r.repository,
                "digest": sh.digest,
                "old_tags": sh.old_tags,
                "kept_tags": sh.kept_tags,
            }));
        }
    }
    let value = json!({
        "image_name": image,
        "registry": reference,
        "current_week": retention.current.stamp(),
        "oldest_kept_week": retention.oldest_kept().map(|w| w.stamp()),
        "dry_run": dry_run,
        "repositories": out.repositories.iter().map(|r| r.repository.as_str()).collect::<Vec<_>>(),
        "listed_by": match &out.listed {
            Listed::Catalog => "catalog".to_owned(),
            Listed::Derived(_) => "packages.d".to_owned(),
        },
        "deleted": deleted,
        "gone": gone,
        "shared": shared,
        "kept_tags": out.repositories.iter().map(|r| r.kept).sum::<usize>(),
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shortened_as_the_engines_do() {
        assert_eq!(short("307c0b9e12765a330fbc"), "307c0b9e1276");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short("ééééééééééééé"), "éééééééééééé");
    }

    #[test]
    fn sizes_read_as_the_engines_print_them() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(999), "999 B");
        assert_eq!(human(116_700_000), "116.7 MB");
        assert_eq!(human(1_044_000_000), "1.0 GB");
    }

    #[test]
    fn without_a_catalog_the_roots_stages_are_asked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("packages.d")).expect("mkdir");
        std::fs::write(dir.path().join("packages.d/acme-a.toml"), "not even toml [").expect("w");
        let mut names = derived_repositories(dir.path(), "img", None);
        names.sort();
        assert_eq!(names, ["img", "img-acme-a", "img-base"]);
        let mut names = derived_repositories(dir.path(), "img", Some("linux-arm64"));
        names.sort();
        assert_eq!(
            names,
            [
                "img",
                "img-acme-a",
                "img-base",
                "linux-arm64/img",
                "linux-arm64/img-acme-a",
                "linux-arm64/img-base"
            ]
        );
    }
}
