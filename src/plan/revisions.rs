//! The branch rules of OpenBMC's script: which line of `git ls-remote
//! --heads` an unpinned package builds for BRANCH.
//!
//! Owns: reading that output as each version of the script did. Must not:
//! run git (that is `crate::run::revs`). Pure.

use crate::model::settings::BranchMatch;

/// A compiled branch rule.
#[derive(Debug, Clone)]
pub enum BranchRule {
    RegexSuffix(regex::Regex),
    Contains(String),
}

impl BranchRule {
    /// The rule for `branch`; an error when it is no regular expression.
    pub fn new(kind: BranchMatch, branch: &str) -> Result<BranchRule, String> {
        match kind {
            // Python's re.fullmatch(f".*{branch}$", line).
            BranchMatch::RegexSuffix => regex::Regex::new(&format!("^(?:.*{branch}$)$"))
                .map(BranchRule::RegexSuffix)
                .map_err(|e| {
                    format!(
                        "BRANCH `{branch}` is not a regular expression, which this root's \
                         branch rule needs: {}",
                        e.to_string().lines().last().unwrap_or("syntax error")
                    )
                }),
            BranchMatch::Contains => Ok(BranchRule::Contains(format!("refs/heads/{branch}"))),
        }
    }

    /// The revision `git ls-remote --heads` output gives, as the script
    /// reads it line by line.
    pub fn pick<'a>(&self, output: &'a str) -> Option<&'a str> {
        let first_field = |line: &'a str| line.split_whitespace().next();
        let mut rev = None;
        for line in output.split('\n') {
            match self {
                BranchRule::RegexSuffix(re) => {
                    if re.is_match(line.trim()) {
                        return first_field(line).or(rev);
                    }
                    if (line.contains("refs/heads/master") || line.contains("refs/heads/main"))
                        && rev.is_none()
                    {
                        rev = first_field(line);
                    }
                }
                BranchRule::Contains(wanted) => {
                    if line.contains(wanted.as_str()) {
                        rev = first_field(line).or(rev);
                    } else if line.contains("refs/heads/master") && rev.is_none() {
                        rev = first_field(line);
                    }
                }
            }
        }
        rev
    }

    pub fn fallbacks(&self) -> &'static str {
        match self {
            BranchRule::RegexSuffix(_) => "`master` or `main`",
            BranchRule::Contains(_) => "`master`",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::BranchMatch;

    const LS: &str = "1111111111111111111111111111111111111111\trefs/heads/dev\n\
                      2222222222222222222222222222222222222222\trefs/heads/feature\n\
                      3333333333333333333333333333333333333333\trefs/heads/main\n\
                      4444444444444444444444444444444444444444\trefs/heads/maintenance\n\
                      5555555555555555555555555555555555555555\trefs/heads/master\n\
                      6666666666666666666666666666666666666666\trefs/heads/old-feature\n";

    fn pick(kind: BranchMatch, branch: &str, output: &str) -> Option<String> {
        BranchRule::new(kind, branch)
            .expect("rule")
            .pick(output)
            .map(|s| s[..1].to_owned())
    }

    #[test]
    fn the_2026_rule_matches_a_regex_at_the_end_and_falls_back_to_master_or_main() {
        let r = BranchMatch::RegexSuffix;
        assert_eq!(pick(r, "feature", LS).as_deref(), Some("2"));
        assert_eq!(pick(r, "ure", LS).as_deref(), Some("2"), "a suffix matches");
        assert_eq!(pick(r, "old-.*", LS).as_deref(), Some("6"), "a regex");
        assert_eq!(
            pick(r, "nope", LS).as_deref(),
            Some("3"),
            "main is listed first"
        );
        assert_eq!(pick(r, "master", LS).as_deref(), Some("5"));
        let only_master = "5555555555555555555555555555555555555555\trefs/heads/master\n";
        assert_eq!(pick(r, "nope", only_master).as_deref(), Some("5"));
        assert_eq!(pick(r, "nope", "").as_deref(), None);
        assert!(BranchRule::new(r, "feat(").is_err());
    }

    #[test]
    fn the_2021_rule_takes_the_last_line_containing_the_branch_and_only_master() {
        let r = BranchMatch::Contains;
        assert_eq!(pick(r, "feature", LS).as_deref(), Some("2"));
        assert_eq!(
            pick(r, "ure", LS).as_deref(),
            Some("5"),
            "no substring match"
        );
        assert_eq!(
            pick(r, "ma", LS).as_deref(),
            Some("5"),
            "the last of main, maintenance, master"
        );
        assert_eq!(
            pick(r, "nope", LS).as_deref(),
            Some("5"),
            "master, never main"
        );
        let only_main = "3333333333333333333333333333333333333333\trefs/heads/main\n";
        assert_eq!(pick(r, "nope", only_main), None);
        assert!(BranchRule::new(r, "feat(").is_ok(), "not a regex here");
    }
}
