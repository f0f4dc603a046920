//! The command layer's typed errors: why the settings of a run cannot be
//! made from its flags and environment.
//!
//! Owns: the messages of these failures. Must not: print, or decide
//! anything about the core's rules.

/// Why the settings of a run cannot be made from its flags and environment
/// (a usage error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("the system clock is before 1970")]
    ClockBeforeEpoch,
    #[error("the system clock is out of range")]
    ClockOutOfRange,
    #[error("SOURCE_DATE_EPOCH `{0}` is not a number of seconds")]
    SourceDateEpochNotANumber(String),
    #[error("SOURCE_DATE_EPOCH `{0}` is out of range")]
    SourceDateEpochOutOfRange(String),
    #[error("--arch `{0}` is not a machine name like x86_64, aarch64 or ppc64le")]
    NotAnArch(String),
    #[error("--cpus must be at least 1")]
    ZeroCpus,
    /// Values the settings' checks refuse, one line each.
    #[error("{}", .0.join("\nerror: "))]
    Refused(Vec<String>),
}
