//! The run's settings: what the original script read from its environment
//! (and we also take as flags), resolved into plain values before anything
//! is rendered.
//!
//! Owns: the `Settings` value and the small pure rules around it (ISO week,
//! `dirname`, the CPU count rule of `nproc`), and the rules base.toml picks
//! by name (`BaseRule`: their names are serde's), and this machine's name
//! ([`machine`], from `uname`). Must not: read the environment or the
//! clock itself — the caller passes them in.

use std::fmt;

use serde::de::{self, value::StrDeserializer, DeserializeOwned};
use serde::{Deserialize, Serialize};

/// The invoking user, set up in the final image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub home: String,
    pub uid: u32,
    pub gid: u32,
}

/// ISO 8601 year and week of "today". Ordered in time (year, then week).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u8,
}

impl IsoWeek {
    /// The last second a tag's four-digit ISO year can name:
    /// 9999-12-31T23:59:59Z.
    pub const LAST_SECOND: i64 = 253_402_300_799;

    /// The ISO week of a Unix time (UTC); None outside 1970 to 9999 (the
    /// tags carry a four-digit year, and no build predates 1970).
    pub fn from_unix(secs: i64) -> Option<IsoWeek> {
        if !(0..=Self::LAST_SECOND).contains(&secs) {
            return None;
        }
        let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
        let (year, week, _) = t.to_iso_week_date();
        Some(IsoWeek { year, week })
    }

    /// `2021-W06`, as tags carry it.
    pub fn stamp(&self) -> String {
        format!("{}-W{:02}", self.year, self.week)
    }

    /// This week, if it exists: week 53 only in the years that have one.
    pub fn new(year: i32, week: u8) -> Option<IsoWeek> {
        time::Date::from_iso_week_date(year, week, time::Weekday::Monday)
            .ok()
            .map(|_| IsoWeek { year, week })
    }

    /// The week `n` weeks before this one (across years), if the calendar
    /// reaches that far.
    pub fn weeks_before(&self, n: u32) -> Option<IsoWeek> {
        let monday =
            time::Date::from_iso_week_date(self.year, self.week, time::Weekday::Monday).ok()?;
        let then = monday.checked_sub(time::Duration::weeks(i64::from(n)))?;
        let (year, week, _) = then.to_iso_week_date();
        Some(IsoWeek { year, week })
    }
}

/// Everything a render needs besides the project itself.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// DOCKER_IMAGE_NAME: the tags' repository part.
    pub image_name: String,
    /// FORCE_DOCKER_BUILD: rebuild every stage, bypassing the cache.
    pub force: bool,
    /// BUILD_URL is set: a CI build, which refreshes the distro weekly.
    pub ci_build: bool,
    /// DISTRO: overrides base.toml's `distro`.
    pub distro: Option<String>,
    /// BRANCH: the branch whose head unpinned packages build.
    pub branch: String,
    /// UBUNTU_MIRROR: an apt mirror for Ubuntu bases.
    pub ubuntu_mirror: Option<String>,
    /// http_proxy and https_proxy.
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    /// DOCKER_REG: registry the base image is pulled from.
    pub docker_reg: Option<String>,
    /// GERRIT_PROJECT + GERRIT_PATCHSET_REVISION: that package builds that rev.
    pub gerrit_project: Option<String>,
    pub gerrit_rev: Option<String>,
    /// GERRIT_TOPIC: unpinned `openbmc/` packages with exactly one open
    /// change on this topic build that change.
    pub gerrit_topic: Option<String>,
    /// The Gerrit server asked about the topic.
    pub gerrit_url: String,
    /// How long one Gerrit request may take.
    pub gerrit_timeout: std::time::Duration,
    /// CPUs for `make -j`.
    pub cpus: usize,
    pub user: User,
    /// The machine, as `uname -m` names it (`x86_64`, `aarch64`, `ppc64le`…).
    pub arch: String,
    pub week: IsoWeek,
    /// Build on this image instead of a base stage.
    pub base_image: Option<String>,
}

pub const DEFAULT_IMAGE_NAME: &str = "openbmc/ubuntu-unit-test";
/// The Gerrit server GERRIT_TOPIC is looked up on.
pub const DEFAULT_GERRIT_URL: &str = "https://gerrit.openbmc.org";

/// A rule templates/base.toml picks by name: the serde names of the
/// enum's variants (kebab-case) are the values its key takes, written in
/// that one place, and its `Default` is the rule when base.toml does not
/// say.
pub trait BaseRule: DeserializeOwned + Default {
    /// The key of templates/base.toml that names the root's rule.
    const KEY: &'static str;

    /// The values the key may take, in declaration order.
    fn names() -> &'static [&'static str] {
        variant_names::<Self>()
    }

    /// The rule `name` names, if any.
    fn from_name(name: &str) -> Option<Self> {
        Self::deserialize(StrDeserializer::<de::value::Error>::new(name)).ok()
    }

    /// The root's rule (the default when base.toml does not say).
    fn of(templates: &crate::model::template::Templates) -> Self {
        templates
            .base_str(Self::KEY)
            .and_then(Self::from_name)
            .unwrap_or_default()
    }
}

/// The names serde reads the variants of the enum `T` by, in declaration
/// order: the list it gives when asked for a variant that does not exist.
fn variant_names<T: DeserializeOwned>() -> &'static [&'static str] {
    /// The error that keeps the names an unknown variant was expected among.
    #[derive(Debug)]
    struct Expected(&'static [&'static str]);
    impl fmt::Display for Expected {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "one of {:?}", self.0)
        }
    }
    impl std::error::Error for Expected {}
    impl de::Error for Expected {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Expected(&[])
        }
        fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
            Expected(expected)
        }
    }
    // No variant is named by the empty string.
    T::deserialize(StrDeserializer::<Expected>::new(""))
        .err()
        .map_or(&[], |Expected(names)| names)
}

/// How BRANCH picks a line of `git ls-remote --heads` (`branch_match` in
/// templates/base.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BranchMatch {
    /// OpenBMC's script since 2023 (the default): the first line that
    /// BRANCH, a regular expression, matches at its end; else the first line
    /// naming `refs/heads/master` or `refs/heads/main`.
    #[default]
    RegexSuffix,
    /// The 2021 script: the last line containing `refs/heads/BRANCH`; else
    /// the first naming `refs/heads/master`.
    Contains,
}

impl BaseRule for BranchMatch {
    const KEY: &'static str = "branch_match";
}

/// How the default CPU count is found (`cpu_count` in templates/base.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuCount {
    /// The CPUs this process may run on, as OpenBMC's script counts them
    /// today (`len(os.sched_getaffinity(0))`): the default.
    #[default]
    Affinity,
    /// What `nproc` prints, as the 2021 script ran it: the affinity,
    /// adjusted by OMP_NUM_THREADS and OMP_THREAD_LIMIT.
    Nproc,
}

impl BaseRule for CpuCount {
    const KEY: &'static str = "cpu_count";
}

/// This machine's name, as `uname -m` prints it.
pub fn machine() -> String {
    rustix::system::uname()
        .machine()
        .to_string_lossy()
        .into_owned()
}

/// A machine name as `uname -m` prints it: letters, digits, `_` and `-`.
pub fn is_arch_name(arch: &str) -> bool {
    !arch.is_empty()
        && arch.len() <= 32
        && arch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Python's `os.path.dirname`.
pub fn dirname(path: &str) -> String {
    let head = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => return String::new(),
    };
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_owned()
    } else {
        head.to_owned()
    }
}

/// The number of CPUs in a Linux CPU list (`0-3,8,10-11` → 7), as
/// `/proc/self/status` gives `Cpus_allowed_list`: the CPUs this process may
/// run on, which is what `nproc` counts.
pub fn count_cpu_list(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                b.trim()
                    .parse::<usize>()
                    .ok()?
                    .checked_sub(a.trim().parse::<usize>().ok()?)?
                    + 1
            }
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// The CPU count `nproc` prints: the CPUs this process may run on, raised
/// to OMP_NUM_THREADS and capped by OMP_THREAD_LIMIT when those are set.
pub fn nproc(
    available: usize,
    omp_num_threads: Option<&str>,
    omp_thread_limit: Option<&str>,
) -> usize {
    let mut n = available.max(1);
    if let Some(t) = omp_num_threads.and_then(|v| v.split(',').next()?.trim().parse::<usize>().ok())
    {
        if t > 0 {
            n = t;
        }
    }
    if let Some(limit) = omp_thread_limit.and_then(|v| v.trim().parse::<usize>().ok()) {
        if limit > 0 {
            n = n.min(limit);
        }
    }
    n
}

impl Settings {
    /// The original's defaults with nothing set: root on x86_64, two
    /// CPUs, the default image name and Gerrit, ISO week `week`. What a
    /// trial render stands in with, and what the unit tests start from.
    pub fn plain(week: IsoWeek) -> Settings {
        Settings {
            image_name: DEFAULT_IMAGE_NAME.to_owned(),
            force: false,
            ci_build: false,
            distro: None,
            branch: "master".to_owned(),
            ubuntu_mirror: None,
            http_proxy: None,
            https_proxy: None,
            docker_reg: None,
            gerrit_project: None,
            gerrit_rev: None,
            gerrit_topic: None,
            gerrit_url: DEFAULT_GERRIT_URL.to_owned(),
            gerrit_timeout: std::time::Duration::from_secs(30),
            cpus: 2,
            user: User {
                name: "root".to_owned(),
                home: "/root".to_owned(),
                uid: 0,
                gid: 0,
            },
            arch: "x86_64".to_owned(),
            week,
            base_image: None,
        }
    }
}

/// The settings the unit tests render with: the original's defaults for
/// root on x86_64, two CPUs, ISO week 2021-W06, nothing else set.
#[cfg(test)]
pub(crate) fn test_settings() -> Settings {
    Settings {
        gerrit_url: String::new(),
        gerrit_timeout: std::time::Duration::from_secs(1),
        ..Settings::plain(IsoWeek {
            year: 2021,
            week: 6,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_rules_are_named_by_serde_once() {
        // Each name in declaration order, and the rule it reads as.
        fn named<R: BaseRule>() -> Vec<(&'static str, Option<R>)> {
            R::names().iter().map(|n| (*n, R::from_name(n))).collect()
        }
        assert_eq!(
            named::<BranchMatch>(),
            [
                ("regex-suffix", Some(BranchMatch::RegexSuffix)),
                ("contains", Some(BranchMatch::Contains))
            ]
        );
        assert_eq!(
            named::<CpuCount>(),
            [
                ("affinity", Some(CpuCount::Affinity)),
                ("nproc", Some(CpuCount::Nproc))
            ]
        );
        for not in ["", "Contains", "regex_suffix", "nproc "] {
            assert_eq!(BranchMatch::from_name(not), None, "{not:?}");
            assert_eq!(CpuCount::from_name(not), None, "{not:?}");
        }
        assert_eq!(BranchMatch::default(), BranchMatch::RegexSuffix);
        assert_eq!(CpuCount::default(), CpuCount::Affinity);
    }

    #[test]
    fn iso_week_of_the_golden_date() {
        // 2021-02-12 12:00 UTC.
        assert_eq!(
            IsoWeek::from_unix(1_613_131_200)
                .map(|w| w.stamp())
                .as_deref(),
            Some("2021-W06")
        );
        // 2021-01-01 is in week 53 of 2020.
        assert_eq!(
            IsoWeek::from_unix(1_609_459_200)
                .map(|w| w.stamp())
                .as_deref(),
            Some("2020-W53")
        );
        // Only four-digit years, from 1970 on.
        let stamp = |s| IsoWeek::from_unix(s).map(|w| w.stamp());
        assert_eq!(stamp(0).as_deref(), Some("1970-W01"));
        assert_eq!(stamp(IsoWeek::LAST_SECOND).as_deref(), Some("9999-W52"));
        assert_eq!(stamp(-1), None);
        assert_eq!(stamp(-99_999_999_999), None);
        assert_eq!(stamp(IsoWeek::LAST_SECOND + 1), None);
    }

    #[test]
    fn weeks_count_back_across_years() {
        let w = |year, week| IsoWeek::new(year, week).expect("a real week");
        // 2026 has 53 ISO weeks (it starts on a Thursday); 2025 has 52.
        assert!(IsoWeek::new(2026, 53).is_some());
        assert!(IsoWeek::new(2025, 53).is_none());
        assert!(IsoWeek::new(2026, 0).is_none() && IsoWeek::new(2026, 54).is_none());
        assert_eq!(w(2027, 1).weeks_before(1), Some(w(2026, 53)));
        assert_eq!(w(2026, 1).weeks_before(1), Some(w(2025, 52)));
        assert_eq!(w(2026, 10).weeks_before(0), Some(w(2026, 10)));
        assert_eq!(w(2026, 2).weeks_before(3), Some(w(2025, 51)));
        assert!(w(2026, 53) < w(2027, 1) && w(2025, 52) < w(2026, 1));
    }

    #[test]
    fn dirname_matches_python() {
        assert_eq!(dirname("/root"), "/");
        assert_eq!(dirname("/home/user"), "/home");
        assert_eq!(dirname("/home/user/"), "/home/user");
        assert_eq!(dirname("relative"), "");
        assert_eq!(dirname("//x"), "//");
        assert_eq!(dirname("/a//b"), "/a");
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0-1\n"), Some(2));
        assert_eq!(count_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpu_list("5"), Some(1));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn nproc_rules() {
        assert_eq!(nproc(8, None, None), 8);
        assert_eq!(nproc(8, Some("3"), None), 3);
        assert_eq!(nproc(8, Some("16"), Some("4")), 4);
        assert_eq!(nproc(8, Some("x"), None), 8);
    }
}
