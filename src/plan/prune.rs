//! What `prune` removes: the retention rule, pure.
//!
//! Owns: recognising the tags this tool makes for an image name
//! (`{image}:YYYY-Www-<16 hex>` and `{image}-{stage}:YYYY-Www-<16 hex>`,
//! a real ISO week), which of them are older than the weeks kept, and, from
//! what the engine or the registry listed, what may go: for the engine,
//! which images are removed or only untagged and which are held by a
//! container; for a registry, which manifests (by digest) may be deleted and
//! which are shared with a tag that stays. Must not: run anything, read the
//! clock or the environment (the caller passes "today"), or print.
//!
//! The rule only ever picks tags of this exact form: a tag of another
//! format (`latest`, `2026-W01`, a 15-hex hash), of another image name
//! (`{image}foo-base`, `other/img-base`) or in a week that does not exist
//! (`2025-W53`) is never touched. The same tag under a registry's name
//! (`127.0.0.1:5000/ci/{image}-base:…`, what a cache pull or push leaves
//! here) counts as this image's: it would keep the image otherwise. An image name that extends this one with
//! `-` (`{image}-x` beside `{image}`) cannot be told from a stage of it: its
//! tags of this form count as this image's.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::settings::IsoWeek;

/// A tag this tool made for an image name, as `prune` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurTag {
    /// The stage (`base`, `openbmc-sdbusplus`), or None for the final image.
    pub stage: Option<String>,
    /// The ISO week in the tag.
    pub week: IsoWeek,
}

/// The week of a tag of the form `YYYY-Www-<16 lower-case hex>`, if the
/// tag has exactly that form and the week exists.
pub fn week_of_tag(tag: &str) -> Option<IsoWeek> {
    let b = tag.as_bytes();
    if b.len() != 4 + 5 + 16 || &b[4..6] != b"-W" || b[8] != b'-' {
        return None;
    }
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if !digits(&b[..4]) || !digits(&b[6..8]) {
        return None;
    }
    if !b[9..]
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return None;
    }
    IsoWeek::new(tag[..4].parse().ok()?, tag[6..8].parse().ok()?)
}

/// `repository:tag` read as one of this tool's tags for `image`, if it is:
/// `{image}` or `{image}-{stage}` with a tag of this tool's form, here or
/// under a registry's name (`host[:port]/path/{image}-{stage}`, which a
/// pull from or a push to a cache registry leaves beside the local name).
pub fn parse(image: &str, reference: &str) -> Option<OurTag> {
    let (repo, tag) = reference.rsplit_once(':')?;
    if tag.contains('/') {
        return None; // `host:port/name` without a tag.
    }
    let week = week_of_tag(tag)?;
    let stage = stage_of(image, repo).or_else(|| {
        repo.match_indices(&format!("/{image}")).find_map(|(i, _)| {
            let host = repo[..i].split('/').next().unwrap_or_default();
            let is_host = host.contains(['.', ':']) || host == "localhost";
            is_host.then(|| stage_of(image, &repo[i + 1..])).flatten()
        })
    })?;
    Some(OurTag { stage, week })
}

/// The stage a repository of `image` holds: Some(None) for the final
/// image, Some(Some(stage)) for a stage, None when it is another name.
fn stage_of(image: &str, repo: &str) -> Option<Option<String>> {
    if repo == image {
        return Some(None);
    }
    let stage = repo.strip_prefix(image)?.strip_prefix('-')?;
    let stage_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    (!stage.is_empty() && stage.chars().all(stage_char)).then(|| Some(stage.to_owned()))
}

/// Which weeks stay: the current one, the `keep_weeks` before it, and any
/// later one (a tag made with a later SOURCE_DATE_EPOCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub current: IsoWeek,
    pub keep_weeks: u32,
}

impl Retention {
    /// The oldest week kept; None when the calendar does not reach back
    /// that far (then every week is kept).
    pub fn oldest_kept(&self) -> Option<IsoWeek> {
        self.current.weeks_before(self.keep_weeks)
    }

    /// Whether a tag of `week` stays.
    pub fn keeps(&self, week: IsoWeek) -> bool {
        self.oldest_kept().is_none_or(|oldest| week >= oldest)
    }
}

/// What the rule says about one `repository:tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a tag of this tool for this image name: never touched.
    Foreign,
    /// One of ours, in a week that stays.
    Kept,
    /// One of ours, from a week before those kept: it goes.
    Old(IsoWeek),
}

/// The rule for one `repository:tag`.
pub fn verdict(image: &str, retention: &Retention, reference: &str) -> Verdict {
    match parse(image, reference) {
        None => Verdict::Foreign,
        Some(t) if retention.keeps(t.week) => Verdict::Kept,
        Some(t) => Verdict::Old(t.week),
    }
}

// ------------------------------------------------------------------ engine

/// One image of the engine: its id and every `repository:tag` naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    pub tags: Vec<String>,
    /// Its size as the engine reports it (bytes, shared layers included).
    pub size: Option<u64>,
}

/// A container (running or stopped) and the id of its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image_id: String,
}

/// One image whose old tags go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRemoval {
    pub id: String,
    /// The old tags removed, in the order to remove them.
    pub tags: Vec<String>,
    /// Its other tags (kept weeks, another format or image name): when
    /// there are any, the image is only untagged and stays.
    pub stays_as: Vec<String>,
    pub size: Option<u64>,
}

impl ImageRemoval {
    /// Whether removing its tags deletes the image.
    pub fn deletes(&self) -> bool {
        self.stays_as.is_empty()
    }
}

/// An image with old tags that a container uses: left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse {
    pub id: String,
    pub tags: Vec<String>,
    /// The containers using it, by name.
    pub containers: Vec<String>,
}

/// What a local prune does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalPlan {
    pub remove: Vec<ImageRemoval>,
    pub in_use: Vec<InUse>,
    /// Tags of this image name that stay (current and kept weeks).
    pub kept: usize,
}

/// Strips the `sha256:` an engine may put before an id.
fn bare_id(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// What a prune of the engine's `images` does, with `containers` holding
/// their images: the removals in the order to make them (the final
/// image's, the packages', the base's last).
pub fn plan_local(
    image: &str,
    retention: &Retention,
    images: &[LocalImage],
    containers: &[Container],
) -> LocalPlan {
    let mut users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for c in containers {
        users
            .entry(bare_id(&c.image_id))
            .or_default()
            .insert(&c.name);
    }
    let mut plan = LocalPlan::default();
    for img in images {
        let mut old = Vec::new();
        let mut stays_as = Vec::new();
        for tag in &img.tags {
            match verdict(image, retention, tag) {
                Verdict::Old(_) => old.push(tag.clone()),
                Verdict::Kept => {
                    plan.kept += 1;
                    stays_as.push(tag.clone());
                }
                Verdict::Foreign => stays_as.push(tag.clone()),
            }
        }
        if old.is_empty() {
            continue;
        }
        old.sort();
        stays_as.sort();
        match users.get(bare_id(&img.id)) {
            Some(names) => plan.in_use.push(InUse {
                id: img.id.clone(),
                tags: old,
                containers: names.iter().map(|n| (*n).to_owned()).collect(),
            }),
            None => plan.remove.push(ImageRemoval {
                id: img.id.clone(),
                tags: old,
                stays_as,
                size: img.size,
            }),
        }
    }
    // Images built on others go first (the final image, then the
    // packages, the base last): an engine keeps an image while one built
    // on it exists, so this order lets each removal delete what it can.
    let rank = |r: &ImageRemoval| {
        let stage = r
            .tags
            .first()
            .and_then(|t| parse(image, t))
            .and_then(|t| t.stage);
        match stage.as_deref() {
            None => 0,
            Some("base") => 2,
            Some(_) => 1,
        }
    };
    plan.remove
        .sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.tags.cmp(&b.tags)));
    plan.in_use.sort_by(|a, b| a.tags.cmp(&b.tags));
    plan
}

// ---------------------------------------------------------------- registry

/// One tag of a registry repository and the digest of its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTag {
    pub tag: String,
    pub digest: String,
}

/// A manifest whose tags are all old: deleting it removes them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub digest: String,
    pub tags: Vec<String>,
}

/// A manifest with old tags that a tag which stays also points at:
/// deleting it would remove that tag too, so it is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub digest: String,
    pub old_tags: Vec<String>,
    pub kept_tags: Vec<String>,
}

/// What a prune of one registry repository does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryPlan {
    pub delete: Vec<Deletion>,
    pub shared: Vec<Shared>,
    /// Tags of this image name that stay.
    pub kept: usize,
}

/// What a prune of one repository does: `local_repository` is its name as
/// the engine names it here (`{image}-{stage}`, without the REF prefix).
pub fn plan_repository(
    image: &str,
    retention: &Retention,
    local_repository: &str,
    tags: &[RemoteTag],
) -> RepositoryPlan {
    // digest -> (old tags, tags that stay)
    let mut by_digest: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut plan = RepositoryPlan::default();
    for t in tags {
        let entry = by_digest.entry(&t.digest).or_default();
        match verdict(image, retention, &format!("{local_repository}:{}", t.tag)) {
            Verdict::Old(_) => entry.0.push(t.tag.clone()),
            Verdict::Kept => {
                plan.kept += 1;
                entry.1.push(t.tag.clone());
            }
            Verdict::Foreign => entry.1.push(t.tag.clone()),
        }
    }
    for (digest, (mut old, mut stay)) in by_digest {
        if old.is_empty() {
            continue;
        }
        old.sort();
        stay.sort();
        if stay.is_empty() {
            plan.delete.push(Deletion {
                digest: digest.to_owned(),
                tags: old,
            });
        } else {
            plan.shared.push(Shared {
                digest: digest.to_owned(),
                old_tags: old,
                kept_tags: stay,
            });
        }
    }
    plan
}

/// The part of a registry repository (its name under REF's path) that is
/// this image name's: `openbmc/ubuntu-unit-test-base` itself, or after
/// path parts of the fleet's own below REF (`linux-amd64/openbmc/…`).
pub fn our_repository<'r>(image: &str, repository: &'r str) -> Option<&'r str> {
    std::iter::once(0)
        .chain(repository.match_indices('/').map(|(i, _)| i + 1))
        .map(|i| &repository[i..])
        .find(|part| is_our_repository(image, part))
}

/// Whether a registry repository (its name under REF's path, e.g.
/// `openbmc/ubuntu-unit-test-base`) may hold this image name's tags.
pub fn is_our_repository(image: &str, repository: &str) -> bool {
    repository == image
        || repository
            .strip_prefix(image)
            .and_then(|s| s.strip_prefix('-'))
            .is_some_and(|stage| !stage.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: &str = "openbmc/ubuntu-unit-test";
    const HASH: &str = "0123456789abcdef";

    fn week(year: i32, week: u8) -> IsoWeek {
        IsoWeek::new(year, week).expect("a real week")
    }

    fn keep(current: IsoWeek, keep_weeks: u32) -> Retention {
        Retention {
            current,
            keep_weeks,
        }
    }

    fn t(repo: &str, stamp: &str) -> String {
        format!("{repo}:{stamp}-{HASH}")
    }

    #[test]
    fn only_this_tools_tags_of_this_image_name_are_read() {
        let ours = parse(IMG, &t("openbmc/ubuntu-unit-test-base", "2026-W07")).expect("ours");
        assert_eq!(
            (ours.stage.as_deref(), ours.week),
            (Some("base"), week(2026, 7))
        );
        let fin = parse(IMG, &t(IMG, "2026-W07")).expect("final");
        assert_eq!(fin.stage, None);
        assert!(parse(
            IMG,
            &t("openbmc/ubuntu-unit-test-openbmc-sdbusplus", "2020-W53")
        )
        .is_some());
        for foreign in [
            format!("{IMG}-base:latest"),
            format!("{IMG}-x:latest"),
            t("openbmc/ubuntu-unit-testfoo-base", "2020-W01"),
            t("other/img-base", "2020-W01"),
            t("other/openbmc/ubuntu-unit-test-base", "2020-W01"),
            t("reg.example/openbmc/ubuntu-unit-testfoo-base", "2020-W01"),
            t("openbmc/ubuntu-unit-test-", "2020-W01"),
            t("openbmc/ubuntu-unit-test-Base", "2020-W01"),
            format!("{IMG}-base:2020-W01"),
            format!("{IMG}-base:2020-W01-0123456789abcde"),
            format!("{IMG}-base:2020-W01-0123456789abcdef0"),
            format!("{IMG}-base:2020-W01-0123456789ABCDEF"),
            format!("{IMG}-base:2020-w01-{HASH}"),
            format!("{IMG}-base:20x0-W01-{HASH}"),
            format!("{IMG}-base:2025-W53-{HASH}"),
            format!("{IMG}-base:2026-W00-{HASH}"),
            format!("{IMG}-base:2026-W54-{HASH}"),
            format!("{IMG}-base"),
            "localhost:5000/openbmc/ubuntu-unit-test".to_owned(),
        ] {
            assert_eq!(parse(IMG, &foreign), None, "{foreign}");
        }
    }

    #[test]
    fn the_current_week_and_the_kept_ones_stay() {
        let now = week(2026, 10);
        let base = |stamp| t("openbmc/ubuntu-unit-test-base", stamp);
        let r = keep(now, 0);
        assert_eq!(verdict(IMG, &r, &base("2026-W10")), Verdict::Kept);
        assert_eq!(
            verdict(IMG, &r, &base("2026-W11")),
            Verdict::Kept,
            "a later week stays"
        );
        assert_eq!(
            verdict(IMG, &r, &base("2026-W09")),
            Verdict::Old(week(2026, 9))
        );
        assert_eq!(
            verdict(IMG, &r, &base("2019-W01")),
            Verdict::Old(week(2019, 1))
        );
        let r = keep(now, 2);
        assert_eq!(verdict(IMG, &r, &base("2026-W08")), Verdict::Kept);
        assert_eq!(
            verdict(IMG, &r, &base("2026-W07")),
            Verdict::Old(week(2026, 7))
        );
        assert_eq!(
            verdict(IMG, &r, &format!("{IMG}-base:latest")),
            Verdict::Foreign
        );
        // Further back than the calendar: everything stays.
        assert_eq!(
            verdict(IMG, &keep(now, u32::MAX), &base("2019-W01")),
            Verdict::Kept
        );
    }

    #[test]
    fn the_rule_crosses_year_boundaries() {
        let fin = |stamp| t(IMG, stamp);
        // 2027-W01 follows 2026-W53.
        let r = keep(week(2027, 1), 0);
        assert_eq!(
            verdict(IMG, &r, &fin("2026-W53")),
            Verdict::Old(week(2026, 53))
        );
        let r = keep(week(2027, 1), 1);
        assert_eq!(verdict(IMG, &r, &fin("2026-W53")), Verdict::Kept);
        assert_eq!(
            verdict(IMG, &r, &fin("2026-W52")),
            Verdict::Old(week(2026, 52))
        );
        // 2026-W01 follows 2025-W52 (2025 has no week 53).
        let r = keep(week(2026, 1), 1);
        assert_eq!(verdict(IMG, &r, &fin("2025-W52")), Verdict::Kept);
        assert_eq!(
            verdict(IMG, &r, &fin("2025-W51")),
            Verdict::Old(week(2025, 51))
        );
    }

    fn image(id: &str, tags: &[String], size: u64) -> LocalImage {
        LocalImage {
            id: id.to_owned(),
            tags: tags.to_vec(),
            size: Some(size),
        }
    }

    #[test]
    fn old_images_go_unless_a_container_uses_them_or_another_tag_stays() {
        let base = "openbmc/ubuntu-unit-test-base";
        let images = [
            image("sha256:aa", &[t(base, "2026-W08")], 100),
            image(
                "sha256:bb",
                &[t(base, "2026-W09"), t(base, "2026-W10")],
                200,
            ),
            image("sha256:cc", &[t(IMG, "2026-W08")], 300),
            image(
                "sha256:dd",
                &[t(base, "2026-W07"), format!("{base}:latest")],
                400,
            ),
            image("sha256:ee", &[t(IMG, "2026-W10")], 500),
            image("sha256:ff", &[t("other/img-base", "2020-W01")], 600),
            image("sha256:11", &[t(IMG, "2026-W01"), t(IMG, "2026-W02")], 700),
        ];
        let containers = [
            Container {
                name: "held".to_owned(),
                image_id: "cc".to_owned(),
            },
            Container {
                name: "also".to_owned(),
                image_id: "sha256:cc".to_owned(),
            },
        ];
        let plan = plan_local(IMG, &keep(week(2026, 10), 0), &images, &containers);
        let gone: Vec<(&str, &[String], bool)> = plan
            .remove
            .iter()
            .map(|r| (r.id.as_str(), r.tags.as_slice(), r.deletes()))
            .collect();
        assert_eq!(
            gone,
            [
                (
                    "sha256:11",
                    &[t(IMG, "2026-W01"), t(IMG, "2026-W02")][..],
                    true
                ),
                ("sha256:dd", &[t(base, "2026-W07")][..], false),
                ("sha256:aa", &[t(base, "2026-W08")][..], true),
                ("sha256:bb", &[t(base, "2026-W09")][..], false),
            ],
            "the final image first, the base last"
        );
        assert_eq!(plan.remove[1].stays_as, [format!("{base}:latest")]);
        assert_eq!(plan.remove[3].stays_as, [t(base, "2026-W10")]);
        assert_eq!(
            plan.in_use,
            [InUse {
                id: "sha256:cc".to_owned(),
                tags: vec![t(IMG, "2026-W08")],
                containers: vec!["also".to_owned(), "held".to_owned()],
            }]
        );
        assert_eq!(plan.kept, 2, "W10 of base and of the final image");
        // A second prune, after the first: nothing left to do.
        let after: Vec<LocalImage> = images
            .iter()
            .filter_map(|i| {
                let tags: Vec<String> = i
                    .tags
                    .iter()
                    .filter(|t| !plan.remove.iter().any(|r| r.tags.contains(t)))
                    .cloned()
                    .collect();
                (!tags.is_empty()).then(|| image(&i.id, &tags, 0))
            })
            .collect();
        let again = plan_local(IMG, &keep(week(2026, 10), 0), &after, &containers);
        assert!(again.remove.is_empty(), "{again:?}");
        assert_eq!(again.in_use.len(), 1);
    }

    fn remote(tag: &str, digest: &str) -> RemoteTag {
        RemoteTag {
            tag: tag.to_owned(),
            digest: digest.to_owned(),
        }
    }

    #[test]
    fn a_digest_that_a_staying_tag_shares_is_never_deleted() {
        let repo = "openbmc/ubuntu-unit-test-base";
        let tags = [
            remote(&format!("2026-W08-{HASH}"), "sha256:1"),
            remote(&format!("2026-W09-{HASH}"), "sha256:2"),
            remote(&format!("2026-W10-{HASH}"), "sha256:2"),
            remote(&format!("2026-W07-{HASH}"), "sha256:3"),
            remote("latest", "sha256:3"),
            remote(&format!("2026-W06-{HASH}"), "sha256:4"),
            remote(&format!("2026-W05-{HASH}"), "sha256:4"),
            remote(&format!("2026-W10-{}", "f".repeat(16)), "sha256:5"),
        ];
        let plan = plan_repository(IMG, &keep(week(2026, 10), 0), repo, &tags);
        assert_eq!(
            plan.delete,
            [
                Deletion {
                    digest: "sha256:1".to_owned(),
                    tags: vec![format!("2026-W08-{HASH}")],
                },
                Deletion {
                    digest: "sha256:4".to_owned(),
                    tags: vec![format!("2026-W05-{HASH}"), format!("2026-W06-{HASH}")],
                },
            ]
        );
        assert_eq!(
            plan.shared,
            [
                Shared {
                    digest: "sha256:2".to_owned(),
                    old_tags: vec![format!("2026-W09-{HASH}")],
                    kept_tags: vec![format!("2026-W10-{HASH}")],
                },
                Shared {
                    digest: "sha256:3".to_owned(),
                    old_tags: vec![format!("2026-W07-{HASH}")],
                    kept_tags: vec!["latest".to_owned()],
                },
            ]
        );
        assert_eq!(plan.kept, 2);
        // Keeping one week more keeps W09, and with it nothing shares.
        let plan = plan_repository(IMG, &keep(week(2026, 10), 1), repo, &tags);
        assert_eq!(plan.delete.len(), 2);
        assert_eq!(plan.shared.len(), 1);
    }

    #[test]
    fn repositories_of_this_image_name() {
        assert!(is_our_repository(IMG, IMG));
        assert!(is_our_repository(IMG, "openbmc/ubuntu-unit-test-base"));
        assert!(!is_our_repository(IMG, "openbmc/ubuntu-unit-testfoo-base"));
        assert!(!is_our_repository(IMG, "openbmc/ubuntu-unit-test-"));
        assert!(!is_our_repository(IMG, "other/img-base"));
        assert_eq!(
            our_repository(IMG, "linux-amd64/openbmc/ubuntu-unit-test-base"),
            Some("openbmc/ubuntu-unit-test-base")
        );
        assert_eq!(our_repository(IMG, "openbmc/ubuntu-unit-test"), Some(IMG));
        assert_eq!(our_repository(IMG, "x/openbmc/ubuntu-unit-testfoo"), None);
    }
}
