//! "Did you mean" suggestions.
//!
//! Owns: picking the closest candidate to a misspelt name. Pure.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_misses_only() {
        let c = ["openbmc/sdbusplus", "openbmc/stdplus", "boost"];
        assert_eq!(closest("openbmc/sdbuplus", c), Some("openbmc/sdbusplus"));
        assert_eq!(closest("Boost", c), Some("boost"));
        assert_eq!(closest("zzz", c), None);
    }
}
