//! `prune` on the local engine: what it lists, and the removals.
//!
//! Owns: the [`PruneEngine`] calls (the images with their tags, their
//! sizes, the containers and their images, `rmi` of one tag without `-f`,
//! the image storage `system df` reports) on the real engine through
//! `crate::process` (each with `--engine-timeout`, stopped on SIGINT or
//! SIGTERM), and [`prune_local`], which lists, asks the rule
//! (`crate::plan::prune`) and removes. Must not: decide which tags go
//! (that is the rule), print, or remove anything in a dry run.

use std::collections::{BTreeMap, HashMap};

use crate::plan::prune::{self, Container, ImageRemoval, LocalImage, LocalPlan, Retention};
use crate::process;
use crate::run::engine::{strip_registry, DockerCli, EngineError, ExitDesc};

/// The most of an engine listing read.
const LIST_LIMIT: usize = 64 * 1024 * 1024;

/// Why one engine call did not give its answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// It ran and failed: what it said.
    #[error("`{command}` failed with {exit}: {stderr}")]
    Failed {
        command: String,
        exit: ExitDesc,
        stderr: String,
    },
}

/// What one `rmi` of a tag did, as the engine said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRemoval {
    /// It was the image's last tag: the image was deleted.
    Deleted,
    /// The image stays (another tag, or an image built on it).
    Untagged,
    /// The tag was gone already (another prune at the same time).
    Gone,
}

/// What `prune` asks of an engine.
pub trait PruneEngine {
    /// Every image: its id and each `repository:tag` naming it.
    fn images(&self) -> Result<Vec<LocalImage>, CallError>;
    /// The sizes (bytes) of these images, by id.
    fn sizes(&self, ids: &[String]) -> Result<HashMap<String, u64>, CallError>;
    /// Every container, running or stopped, with its image's id.
    fn containers(&self) -> Result<Vec<Container>, CallError>;
    /// Removes one tag (`rmi` without `-f`).
    fn remove_tag(&self, tag: &str) -> Result<TagRemoval, CallError>;
    /// The space its images take, as `system df` reports it (bytes).
    fn image_storage(&self) -> Result<u64, CallError>;
}

impl DockerCli {
    /// Runs the engine with `args` under `--engine-timeout`; its stdout.
    fn call(&self, args: &[&str]) -> Result<String, CallError> {
        let mut cmd = process::command(&self.program);
        cmd.args(args);
        let out = self.query(cmd, LIST_LIMIT)?;
        if !out.status.success() {
            return Err(CallError::Failed {
                command: out.command,
                exit: ExitDesc::of(out.status),
                stderr: crate::printable::printable(&out.stderr).trim().to_owned(),
            });
        }
        if out.stdout_truncated {
            return Err(CallError::Failed {
                command: out.command,
                exit: ExitDesc::of(out.status),
                stderr: "it printed more than 64 MiB".to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// An id without the `sha256:` an engine may put before it.
pub fn bare_id(id: &str) -> String {
    id.trim().trim_start_matches("sha256:").to_owned()
}

/// `image ls --no-trunc --format '{{.ID}}\t{{.Repository}}\t{{.Tag}}'`
/// read into images (untagged ones left out), in the order listed.
pub fn parse_image_list(text: &str) -> Vec<LocalImage> {
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut images: Vec<LocalImage> = Vec::new();
    for line in text.lines() {
        let mut cols = line.split('\t');
        let (Some(id), Some(repo), Some(tag)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        if repo == "<none>" || tag == "<none>" || id.trim().is_empty() {
            continue;
        }
        let id = bare_id(id);
        let reference = format!("{}:{tag}", strip_registry(repo));
        let i = *by_id.entry(id.clone()).or_insert_with(|| {
            images.push(LocalImage {
                id,
                tags: Vec::new(),
                size: None,
            });
            images.len() - 1
        });
        if !images[i].tags.contains(&reference) {
            images[i].tags.push(reference);
        }
    }
    images
}

/// A size as docker and podman print them (`116.7MB`, `801 MB`, `0B`,
/// `1.2kB`: decimal units), in bytes.
pub fn parse_human_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "b" | "" => 1e0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "pb" => 1e15,
        _ => return None,
    };
    Some((number * factor).round() as u64)
}

impl PruneEngine for DockerCli {
    fn images(&self) -> Result<Vec<LocalImage>, CallError> {
        let text = self.call(&[
            "image",
            "ls",
            "--no-trunc",
            "--format",
            "{{.ID}}\t{{.Repository}}\t{{.Tag}}",
        ])?;
        Ok(parse_image_list(&text))
    }

    fn sizes(&self, ids: &[String]) -> Result<HashMap<String, u64>, CallError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut args = vec!["image", "inspect", "--format", "{{.Id}}\t{{.Size}}"];
        args.extend(ids.iter().map(String::as_str));
        let text = self.call(&args)?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (id, size) = l.split_once('\t')?;
                Some((bare_id(id), size.trim().parse().ok()?))
            })
            .collect())
    }

    fn containers(&self) -> Result<Vec<Container>, CallError> {
        // A container removed between the listing and the inspect: list again.
        match self.list_containers() {
            Err(CallError::Failed { stderr, .. })
                if stderr.to_ascii_lowercase().contains("no such container") =>
            {
                self.list_containers()
            }
            other => other,
        }
    }

    fn remove_tag(&self, tag: &str) -> Result<TagRemoval, CallError> {
        match self.call(&["rmi", tag]) {
            Ok(said) if said.lines().any(|l| l.trim_start().starts_with("Deleted")) => {
                Ok(TagRemoval::Deleted)
            }
            Ok(_) => Ok(TagRemoval::Untagged),
            // docker: "No such image: x"; podman: "x: image not known".
            Err(CallError::Failed { stderr, .. })
                if stderr.contains("No such image") || stderr.contains("image not known") =>
            {
                Ok(TagRemoval::Gone)
            }
            Err(e) => Err(e),
        }
    }

    fn image_storage(&self) -> Result<u64, CallError> {
        let text = self.call(&["system", "df", "--format", "{{.Type}}\t{{.Size}}"])?;
        text.lines()
            .find_map(|l| l.strip_prefix("Images\t"))
            .and_then(parse_human_size)
            .ok_or_else(|| CallError::Failed {
                command: format!("{} system df", self.program.display()),
                exit: ExitDesc::Code(0),
                stderr: format!("no Images size in its answer: {}", text.trim()),
            })
    }
}

impl DockerCli {
    /// Every container with its image's id: `ps`, then one `inspect`.
    fn list_containers(&self) -> Result<Vec<Container>, CallError> {
        let ids = self.call(&["ps", "--all", "--quiet", "--no-trunc"])?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["container", "inspect", "--format", "{{.Name}}\t{{.Image}}"];
        args.extend(ids);
        let text = self.call(&args)?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (name, image) = l.split_once('\t')?;
                Some(Container {
                    name: name.trim().trim_start_matches('/').to_owned(),
                    image_id: bare_id(image),
                })
            })
            .collect())
    }
}

/// One image whose old tags were (or would be) removed.
#[derive(Debug, Clone)]
pub struct Removed {
    pub image: ImageRemoval,
    /// The engine deleted it (else it only untagged it). In a dry run:
    /// what the rule expects.
    pub deleted: bool,
}

/// What a local prune did.
#[derive(Debug)]
pub struct LocalOutcome {
    pub plan: LocalPlan,
    pub removed: Vec<Removed>,
    /// Tags whose removal failed: tag, why.
    pub failed: Vec<(String, String)>,
    /// Tags that were gone already when their turn came.
    pub gone: Vec<String>,
    /// Image storage (`system df`) before and after; None in a dry run or
    /// when the engine did not say.
    pub storage: Option<(u64, u64)>,
}

/// Lists, plans and (unless `dry_run`) removes. An interrupt stops it
/// between removals ([`EngineError::Cancelled`]).
pub fn prune_local(
    engine: &dyn PruneEngine,
    image: &str,
    retention: &Retention,
    dry_run: bool,
) -> Result<LocalOutcome, CallError> {
    let mut images = engine.images()?;
    // Sizes only for the images that have an old tag.
    let candidates: Vec<String> = images
        .iter()
        .filter(|i| {
            i.tags
                .iter()
                .any(|t| matches!(prune::verdict(image, retention, t), prune::Verdict::Old(_)))
        })
        .map(|i| i.id.clone())
        .collect();
    if candidates.is_empty() {
        let plan = prune::plan_local(image, retention, &images, &[]);
        return Ok(LocalOutcome {
            plan,
            removed: Vec::new(),
            failed: Vec::new(),
            gone: Vec::new(),
            storage: None,
        });
    }
    let sizes = engine.sizes(&candidates)?;
    for i in &mut images {
        i.size = sizes.get(&i.id).copied();
    }
    let containers = engine.containers()?;
    let plan = prune::plan_local(image, retention, &images, &containers);
    if dry_run || plan.remove.is_empty() {
        let removed = plan
            .remove
            .iter()
            .map(|r| Removed {
                image: r.clone(),
                deleted: r.deletes(),
            })
            .collect();
        return Ok(LocalOutcome {
            plan,
            removed,
            failed: Vec::new(),
            gone: Vec::new(),
            storage: None,
        });
    }
    let before = engine.image_storage().ok();
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    let mut gone = Vec::new();
    for r in &plan.remove {
        let mut deleted = false;
        let mut any = false;
        for tag in &r.tags {
            if process::interrupted().is_cancelled() {
                return Err(EngineError::Cancelled.into());
            }
            match engine.remove_tag(tag) {
                Ok(TagRemoval::Deleted) => {
                    deleted = true;
                    any = true;
                }
                Ok(TagRemoval::Untagged) => any = true,
                Ok(TagRemoval::Gone) => gone.push(tag.clone()),
                Err(CallError::Engine(EngineError::Cancelled)) => {
                    return Err(EngineError::Cancelled.into())
                }
                Err(e) => failed.push((tag.clone(), e.to_string())),
            }
        }
        if any {
            removed.push(Removed {
                image: r.clone(),
                deleted,
            });
        }
    }
    let after = engine.image_storage().ok();
    Ok(LocalOutcome {
        plan,
        removed,
        failed,
        gone,
        storage: before.zip(after),
    })
}

/// The weeks a prune keeps, for messages: `2026-W48` or `2026-W46 to 2026-W48`.
pub fn kept_weeks(retention: &Retention) -> String {
    match retention.oldest_kept() {
        Some(oldest) if oldest != retention.current => {
            format!("{} to {}", oldest.stamp(), retention.current.stamp())
        }
        Some(_) => retention.current.stamp(),
        None => format!("every week up to {}", retention.current.stamp()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::IsoWeek;
    use std::cell::RefCell;
    use std::collections::HashSet;

    const IMG: &str = "bud";

    #[test]
    fn image_lists_group_tags_by_id() {
        let text = "sha256:aa\tbud-base\t2026-W01-0123456789abcdef\n\
                    sha256:aa\tlocalhost/bud-base\tlatest\n\
                    sha256:bb\t<none>\t<none>\n\
                    sha256:cc\tbud\t2026-W02-0123456789abcdef\n";
        let images = parse_image_list(text);
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].id, "aa");
        assert_eq!(
            images[0].tags,
            ["bud-base:2026-W01-0123456789abcdef", "bud-base:latest"]
        );
    }

    #[test]
    fn human_sizes_are_decimal() {
        assert_eq!(parse_human_size("116.7MB"), Some(116_700_000));
        assert_eq!(parse_human_size("801 MB"), Some(801_000_000));
        assert_eq!(parse_human_size("1.044GB"), Some(1_044_000_000));
        assert_eq!(parse_human_size("0B"), Some(0));
        assert_eq!(parse_human_size("1.2kB"), Some(1200));
        assert_eq!(parse_human_size("lots"), None);
    }

    /// An engine in memory: images, containers, and what `rmi` does to them.
    struct Fake {
        images: RefCell<Vec<LocalImage>>,
        containers: Vec<Container>,
        refuse: HashSet<String>,
        removed: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new(images: &[(&str, &[&str])], containers: &[(&str, &str)]) -> Fake {
            Fake {
                images: RefCell::new(
                    images
                        .iter()
                        .map(|(id, tags)| LocalImage {
                            id: (*id).to_owned(),
                            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                            size: None,
                        })
                        .collect(),
                ),
                containers: containers
                    .iter()
                    .map(|(n, i)| Container {
                        name: (*n).to_owned(),
                        image_id: (*i).to_owned(),
                    })
                    .collect(),
                refuse: HashSet::new(),
                removed: RefCell::new(Vec::new()),
            }
        }
    }

    impl PruneEngine for Fake {
        fn images(&self) -> Result<Vec<LocalImage>, CallError> {
            Ok(self.images.borrow().clone())
        }
        fn sizes(&self, ids: &[String]) -> Result<HashMap<String, u64>, CallError> {
            Ok(ids.iter().map(|i| (i.clone(), 1000)).collect())
        }
        fn containers(&self) -> Result<Vec<Container>, CallError> {
            Ok(self.containers.clone())
        }
        fn remove_tag(&self, tag: &str) -> Result<TagRemoval, CallError> {
            if self.refuse.contains(tag) {
                return Err(CallError::Failed {
                    command: format!("fake rmi {tag}"),
                    exit: ExitDesc::Code(1),
                    stderr: "conflict".to_owned(),
                });
            }
            self.removed.borrow_mut().push(tag.to_owned());
            let mut images = self.images.borrow_mut();
            let mut deleted = false;
            for i in images.iter_mut() {
                if let Some(p) = i.tags.iter().position(|t| t == tag) {
                    i.tags.remove(p);
                    deleted = i.tags.is_empty();
                }
            }
            images.retain(|i| !i.tags.is_empty());
            Ok(if deleted {
                TagRemoval::Deleted
            } else {
                TagRemoval::Untagged
            })
        }
        fn image_storage(&self) -> Result<u64, CallError> {
            Ok(self.images.borrow().len() as u64 * 1000)
        }
    }

    fn retention() -> Retention {
        Retention {
            current: IsoWeek::new(2026, 3).expect("week"),
            keep_weeks: 0,
        }
    }

    const W1: &str = "bud-base:2026-W01-0123456789abcdef";
    const W2: &str = "bud-base:2026-W02-0123456789abcdef";
    const W3: &str = "bud-base:2026-W03-0123456789abcdef";
    const F1: &str = "bud:2026-W01-0123456789abcdef";

    #[test]
    fn a_dry_run_lists_and_changes_nothing() {
        let fake = Fake::new(
            &[("a", &[W1]), ("b", &[W2, W3]), ("c", &[F1])],
            &[("keep", "c")],
        );
        let out = prune_local(&fake, IMG, &retention(), true).expect("runs");
        let tags: Vec<&str> = out
            .removed
            .iter()
            .map(|r| r.image.tags[0].as_str())
            .collect();
        assert_eq!(tags, [W1, W2]);
        assert_eq!(
            out.removed.iter().map(|r| r.deleted).collect::<Vec<_>>(),
            [true, false]
        );
        assert_eq!(out.plan.in_use[0].containers, ["keep"]);
        assert!(
            fake.removed.borrow().is_empty(),
            "a dry run removes nothing"
        );
        assert_eq!(fake.images.borrow().len(), 3);
    }

    #[test]
    fn a_prune_removes_the_old_tags_then_has_nothing_left_to_do() {
        let fake = Fake::new(
            &[
                ("a", &[W1]),
                ("b", &[W2, W3]),
                ("c", &[F1]),
                ("d", &["bud-x:latest"]),
            ],
            &[("keep", "sha256:c")],
        );
        let out = prune_local(&fake, IMG, &retention(), false).expect("runs");
        assert_eq!(*fake.removed.borrow(), [W1, W2]);
        assert!(out.failed.is_empty());
        assert_eq!(out.storage, Some((4000, 3000)), "a deleted, b untagged");
        assert_eq!(
            out.removed.iter().map(|r| r.deleted).collect::<Vec<_>>(),
            [true, false]
        );
        let again = prune_local(&fake, IMG, &retention(), false).expect("runs");
        assert!(again.removed.is_empty() && again.failed.is_empty());
        assert_eq!(fake.removed.borrow().len(), 2, "nothing more removed");
    }

    #[test]
    fn a_refused_removal_is_reported_and_the_others_go_on() {
        let mut fake = Fake::new(&[("a", &[W1]), ("b", &[W2])], &[]);
        fake.refuse.insert(W1.to_owned());
        let out = prune_local(&fake, IMG, &retention(), false).expect("runs");
        assert_eq!(out.failed.len(), 1);
        assert_eq!(out.failed[0].0, W1);
        assert!(out.failed[0].1.contains("conflict"));
        assert_eq!(*fake.removed.borrow(), [W2]);
    }

    #[test]
    fn kept_weeks_read_well() {
        assert_eq!(kept_weeks(&retention()), "2026-W03");
        let r = Retention {
            keep_weeks: 2,
            ..retention()
        };
        assert_eq!(kept_weeks(&r), "2026-W01 to 2026-W03");
    }
}
