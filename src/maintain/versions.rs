//! Release-tag version parsing and "which tag is newest" selection.
//!
//! Owns: splitting a tag such as `release-1.10.0` or `json-c-0.16-20220414`
//! into a prefix scheme, numeric components and an optional pre-release
//! suffix; ordering those; choosing the newest tag of the same scheme.
//!
//! Must not: run git or touch the network (tags come from
//! `crate::run::lsremote`), edit files (`crate::maintain::edit`), or guess across naming
//! schemes: a tag is only a candidate when its prefix matches the current
//! rev's prefix (ASCII case-insensitively). So `1.75.0` is never bumped to
//! `boost-1.84.0`, and `release-1.10.0` never to `v1.14.0`; a project that
//! changed its tag scheme needs a human to move it once by hand.
//!
//! Parsing rules:
//! * prefix = everything before the first ASCII digit (`v`, `release-`,
//!   `LibVNCServer-`, `json-c-`, or empty); no digit at all → not a version;
//! * then digit runs separated by `.`, `_` or `-` are the numeric
//!   components (so the date in `json-c-0.16-20220414` is a further
//!   component after `0.16`); missing components compare as 0;
//! * anything left over is a pre-release suffix (`-rc1`, `-beta`,
//!   `.alpha2`, `-pre`, `-dev`, `rc1` directly after the digits). Unknown
//!   suffixes (`-hotfix`, `+build`) are treated the same way, conservatively:
//!   such tags are only picked when pre-releases are included. A pre-release
//!   sorts before the release with the same numbers; among themselves
//!   dev/snapshot/nightly < alpha < beta < pre/preview/other < rc, then by
//!   the numbers in the suffix.

use std::cmp::Ordering;

/// A parsed tag/rev version.
#[derive(Debug, Clone)]
pub struct Version {
    /// Text before the first digit, as written (compared case-insensitively).
    pub prefix: String,
    /// Numeric components, in order.
    pub parts: Vec<u64>,
    /// Pre-release (or unrecognised) suffix, without its leading separator.
    pub pre: Option<String>,
}

impl Version {
    /// True when `other` uses the same tag prefix (ASCII case-insensitive).
    pub fn same_scheme(&self, other: &Version) -> bool {
        self.prefix.eq_ignore_ascii_case(&other.prefix)
    }

    /// True for tags with a pre-release (or unknown) suffix.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }

    fn cmp_numbers(&self, other: &Self) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        for i in 0..len {
            let a = self.parts.get(i).copied().unwrap_or(0);
            let b = other.parts.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        Ordering::Equal
    }
}

impl Ord for Version {
    /// Prefix (case-insensitive) first, then numbers, then release after
    /// pre-release.
    fn cmp(&self, other: &Self) -> Ordering {
        self.prefix
            .to_ascii_lowercase()
            .cmp(&other.prefix.to_ascii_lowercase())
            .then_with(|| self.cmp_numbers(other))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => pre_key(a).cmp(&pre_key(b)),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// Sort key of a pre-release suffix: (stage rank, numbers in it, lowercase
/// text as a last tie-break).
fn pre_key(pre: &str) -> (u8, Vec<u64>, String) {
    let lower = pre.to_ascii_lowercase();
    let word: String = lower
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let rank = match word.as_str() {
        "dev" | "snapshot" | "nightly" => 0,
        "alpha" | "a" => 1,
        "beta" | "b" => 2,
        "rc" | "cr" => 4,
        _ => 3,
    };
    let numbers = lower
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap_or(u64::MAX))
        .collect();
    (rank, numbers, lower)
}

/// Parses a tag or rev into a [`Version`]; `None` when it has no digits or
/// a component does not fit in a `u64`.
pub fn parse(tag: &str) -> Option<Version> {
    let start = tag.find(|c: char| c.is_ascii_digit())?;
    let prefix = &tag[..start];
    let mut rest = &tag[start..];
    let mut parts = Vec::new();

    let (first, after) = split_digits(rest);
    parts.push(first.parse::<u64>().ok()?);
    rest = after;
    loop {
        let mut chars = rest.chars();
        let sep = chars.next();
        let next = chars.next();
        match (sep, next) {
            (Some('.' | '_' | '-'), Some(d)) if d.is_ascii_digit() => {
                let (digits, after) = split_digits(&rest[1..]);
                parts.push(digits.parse::<u64>().ok()?);
                rest = after;
            }
            _ => break,
        }
    }

    let pre = if rest.is_empty() {
        None
    } else {
        Some(
            rest.trim_start_matches(['-', '.', '_', '~', '+'])
                .to_owned(),
        )
    };
    Some(Version {
        prefix: prefix.to_owned(),
        parts,
        pre,
    })
}

/// Splits off the leading run of ASCII digits.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// The newest tag in `tags` with the same prefix scheme as `current` and a
/// strictly greater version, or `None` if nothing is newer (or `current` is
/// a commit id or has no version in it). Pre-release tags are skipped unless
/// `include_pre`. Among equal versions (`v1.0` / `v1.0.0`) the first listed
/// wins.
pub fn newest_release<'a>(current: &str, tags: &[&'a str], include_pre: bool) -> Option<&'a str> {
    if crate::model::manifest::is_commit_id(current) {
        return None;
    }
    let cur = parse(current)?;
    let mut best: Option<(Version, &'a str)> = None;
    for &tag in tags {
        let Some(v) = parse(tag) else { continue };
        if !v.same_scheme(&cur) || (v.is_prerelease() && !include_pre) || v <= cur {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, tag));
        }
    }
    best.map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        parse(s).expect("parses")
    }

    #[test]
    fn parse_examples() {
        let x = v("v3.9.1");
        assert_eq!(
            (x.prefix.as_str(), x.parts.as_slice(), x.pre),
            ("v", &[3, 9, 1][..], None)
        );
        let x = v("release-1.10.0");
        assert_eq!(
            (x.prefix.as_str(), x.parts.as_slice()),
            ("release-", &[1, 10, 0][..])
        );
        let x = v("LibVNCServer-0.9.13");
        assert_eq!(
            (x.prefix.as_str(), x.parts.as_slice()),
            ("LibVNCServer-", &[0, 9, 13][..])
        );
        let x = v("json-c-0.16-20220414");
        assert_eq!(
            (x.prefix.as_str(), x.parts.as_slice()),
            ("json-c-", &[0, 16, 20220414][..])
        );
        assert!(x.pre.is_none());
        let x = v("1.75.0");
        assert_eq!(
            (x.prefix.as_str(), x.parts.as_slice()),
            ("", &[1, 75, 0][..])
        );
        let x = v("boost-1_84_0");
        assert_eq!(x.parts, vec![1, 84, 0]);
        assert!(parse("master").is_none());
        assert!(parse("").is_none());
        assert!(parse("v99999999999999999999999").is_none());
    }

    #[test]
    fn parse_prereleases() {
        for (tag, pre) in [
            ("v3.12.0-rc1", "rc1"),
            ("1.0-beta", "beta"),
            ("2.0.alpha2", "alpha2"),
            ("v1.2-pre", "pre"),
            ("v1.2-dev", "dev"),
            ("1.0rc1", "rc1"),
            ("v1.0.0+build5", "build5"),
        ] {
            let x = v(tag);
            assert_eq!(x.pre.as_deref(), Some(pre), "{tag}");
            assert!(x.is_prerelease());
        }
    }

    #[test]
    fn numeric_ordering() {
        assert!(v("1.10") > v("1.9"));
        assert_eq!(v("1.2"), v("1.2.0"));
        assert!(v("1.2.0.1") > v("1.2"));
        assert!(v("v3.12.0-rc1") < v("v3.12.0"));
        assert!(v("v3.12.0-rc1") > v("v3.11.9"));
        assert!(v("1.0-dev") < v("1.0-alpha1"));
        assert!(v("1.0-alpha1") < v("1.0-alpha2"));
        assert!(v("1.0-alpha2") < v("1.0-beta"));
        assert!(v("1.0-beta") < v("1.0-rc1"));
        assert!(v("1.0-rc2") < v("1.0-rc10"));
        assert!(v("json-c-0.18-20240915") > v("json-c-0.17-20230812"));
        assert!(v("json-c-0.16-20220414") > v("json-c-0.16"));
        assert_eq!(v("LibVNCServer-0.9.14"), v("libvncserver-0.9.14"));
    }

    #[test]
    fn v_prefix_skips_other_schemes_and_prereleases() {
        let tags = ["v3.9.0", "v3.10.5", "v3.11.3", "v3.12.0-rc1", "json-v1"];
        assert_eq!(newest_release("v3.9.1", &tags, false), Some("v3.11.3"));
        assert_eq!(newest_release("v3.9.1", &tags, true), Some("v3.12.0-rc1"));
    }

    #[test]
    fn release_prefix_only_same_prefix() {
        let tags = ["release-1.8.0", "release-1.12.1", "v1.13.0", "v1.14.0"];
        assert_eq!(
            newest_release("release-1.10.0", &tags, false),
            Some("release-1.12.1")
        );
        assert_eq!(newest_release("release-1.12.1", &tags, false), None);
    }

    #[test]
    fn libvncserver_case_insensitive_prefix() {
        let tags = [
            "LibVNCServer-0.9.12",
            "LibVNCServer-0.9.13",
            "libvncserver-0.9.14",
            "0.9.15",
        ];
        assert_eq!(
            newest_release("LibVNCServer-0.9.13", &tags, false),
            Some("libvncserver-0.9.14")
        );
        assert_eq!(newest_release("LibVNCServer-0.9.14", &tags, false), None);
        assert_eq!(
            newest_release("libvncserver-0.9.12", &tags, false),
            Some("libvncserver-0.9.14")
        );
    }

    #[test]
    fn json_c_date_suffix() {
        let tags = [
            "json-c-0.15-20200726",
            "json-c-0.16-20220414",
            "json-c-0.17-20230812",
            "json-c-0.18-20240915",
            "json-c-0.18-rc1",
        ];
        assert_eq!(
            newest_release("json-c-0.16-20220414", &tags, false),
            Some("json-c-0.18-20240915")
        );
        assert_eq!(newest_release("json-c-0.18-20240915", &tags, false), None);
        assert_eq!(newest_release("json-c-0.18-20240915", &tags, true), None);
        // A date re-release of the same version is newer.
        assert_eq!(
            newest_release("json-c-0.16", &["json-c-0.16-20220414"], false),
            Some("json-c-0.16-20220414")
        );
    }

    #[test]
    fn boost_style_prefix_is_not_matched() {
        assert_eq!(newest_release("1.75.0", &["boost-1.84.0"], false), None);
        assert_eq!(
            newest_release("1.75.0", &["boost-1.84.0", "1.76.0"], false),
            Some("1.76.0")
        );
    }

    #[test]
    fn plain_numeric() {
        let tags = ["8.0.0", "9.0.0", "10.0.0"];
        assert_eq!(newest_release("8.0.0", &tags, false), Some("10.0.0"));
        assert_eq!(newest_release("10.0.0", &tags, false), None);
        assert_eq!(
            newest_release("v2.12.2", &["v2.12.3", "v2.13.0-beta", "v2.12.10"], false),
            Some("v2.12.10")
        );
    }

    #[test]
    fn commit_ids_and_branches_give_none() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(newest_release(sha, &["1.0", "2.0"], false), None);
        let sha = "1234567890123456789012345678901234567890";
        assert_eq!(newest_release(sha, &["1.0", "2.0"], false), None);
        assert_eq!(newest_release("master", &["1.0"], false), None);
        assert_eq!(newest_release("v1.0", &[], true), None);
    }

    #[test]
    fn pre_current_moves_to_release() {
        let tags = ["v1.0.0-rc1", "v1.0.0-rc2", "v1.0.0"];
        assert_eq!(newest_release("v1.0.0-rc1", &tags, false), Some("v1.0.0"));
        assert_eq!(newest_release("v1.0.0-rc1", &["v1.0.0-rc2"], false), None);
        assert_eq!(
            newest_release("v1.0.0-rc1", &["v1.0.0-rc2"], true),
            Some("v1.0.0-rc2")
        );
    }

    #[test]
    fn equal_versions_first_listed_wins() {
        assert_eq!(
            newest_release("v1", &["v2.0", "v2", "v2.0.0"], false),
            Some("v2.0")
        );
    }

    proptest! {
        #[test]
        fn ord_is_consistent(a in "[vV]?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-(rc|beta|alpha|dev)[0-9]?)?",
                             b in "[vV]?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-(rc|beta|alpha|dev)[0-9]?)?") {
            let (x, y) = (v(&a), v(&b));
            prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
            prop_assert_eq!(x == y, x.cmp(&y) == Ordering::Equal);
        }

        #[test]
        fn newest_is_max_of_candidates(cur in "[0-9]{1,2}\\.[0-9]{1,2}",
                                       tags in proptest::collection::vec("[0-9]{1,2}\\.[0-9]{1,2}", 0..10)) {
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let got = newest_release(&cur, &refs, false);
            let max = refs.iter().map(|t| v(t)).max();
            match got {
                Some(t) => {
                    prop_assert!(v(t) > v(&cur));
                    prop_assert!(Some(v(t)) == max);
                }
                None => prop_assert!(max.is_none_or(|m| m <= v(&cur))),
            }
        }
    }
}
