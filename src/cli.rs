//! The command line (clap derive). Doc comments are the `--help` text.
//!
//! Owns: argument parsing only: the flags, their ranges, and where each may
//! go ([`parse`]: before a subcommand only `--root`; the bare command is
//! `build`). Must not: do any work; `commands` turns these values into
//! actions. (A value parser looks at the environment only to say which
//! variable a bad value came from.)

// The doc comments below are `--help` text, written for a terminal:
// `<stage>` and `[:port]` there are not HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::builder::{TypedValueParser, ValueParser};
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// The longest any `SECS` flag may be: 30 days. Longer is no deadline a
/// person means, and would overflow a clock.
pub const MAX_SECS: u64 = 30 * 24 * 60 * 60;

/// A parsed command line: the root and the command (the bare command is
/// `build`).
#[derive(Debug)]
pub struct Invocation {
    pub root: PathBuf,
    pub command: Command,
}

/// Parses the command line `args` (program name first).
///
/// The options shown for the bare command are `build`'s. Before a
/// subcommand only `--root` is taken: any other option there is refused
/// (a usage error naming where it goes), as it would otherwise be dropped
/// (`--dry-run bump …` would write). The environment variables behind the
/// bare command's options are checked only when there is no subcommand
/// (each subcommand checks those of its own options).
pub fn parse<I, T>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cmd = lenient_top(Cli::command());
    let matches = cmd.clone().try_get_matches_from(&args)?;
    let matches = match matches.subcommand_name() {
        Some(sub) => {
            refuse_misplaced(&cmd, &matches, sub)?;
            matches
        }
        // The bare command: parsed as `build` with the same arguments, so
        // its options and their variables are checked as build's are.
        None => {
            let mut with_build = args.clone();
            with_build.insert(1.min(with_build.len()), OsString::from("build"));
            cmd.clone().try_get_matches_from(with_build)?
        }
    };
    let root = matches
        .get_one::<PathBuf>("root")
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    let command = Command::from_arg_matches(&matches).map_err(|e| e.with_cmd(&cmd))?;
    Ok(Invocation { root, command })
}

/// The command with the bare command's variable-backed options taking any
/// text: with a subcommand they are not used, so a `HOME` that is not
/// UTF-8 must not fail `validate`; without one, `parse` parses again as
/// `build`, strictly.
fn lenient_top(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        if a.get_env().is_some() && !a.is_global_set() {
            a.value_parser(ValueParser::os_string())
        } else {
            a
        }
    })
}

/// Refuses an option given before subcommand `sub` (other than `--root`).
fn refuse_misplaced(
    cmd: &clap::Command,
    matches: &ArgMatches,
    sub: &str,
) -> Result<(), clap::Error> {
    let Some(subcommand) = cmd.find_subcommand(sub) else {
        return Ok(());
    };
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.is_global_set() || matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let shown = match arg.get_value_names() {
            Some([name, ..]) if arg.get_action().takes_values() => format!("--{long} <{name}>"),
            _ => format!("--{long}"),
        };
        let bin = cmd.get_name();
        let message = if subcommand.get_arguments().any(|a| a.get_id() == id) {
            format!(
                "`--{long}` goes after the subcommand: `{bin} {sub} {shown} …` \
                 (before a subcommand only --root is taken)"
            )
        } else {
            format!(
                "`--{long}` is not an option of `{sub}`: it is `build`'s (`{bin} build {shown}`); \
                 before a subcommand only --root is taken"
            )
        };
        let mut cmd = cmd.clone();
        return Err(cmd.error(ErrorKind::ArgumentConflict, message));
    }
    Ok(())
}

/// The parser of a text option that also reads a variable.
fn text() -> FromEnv<clap::builder::StringValueParser> {
    FromEnv(clap::builder::StringValueParser::new())
}

/// A `SECS` value: a whole number of seconds from 1 to [`MAX_SECS`].
fn secs(text: &str) -> Result<u64, String> {
    let n: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of seconds"))?;
    match n {
        0 => Err("must be at least 1 second".to_owned()),
        n if n > MAX_SECS => Err(format!("must be at most {MAX_SECS} seconds (30 days)")),
        n => Ok(n),
    }
}

/// The value parser of an option that also reads an environment variable:
/// `P`'s, but a value from the variable that `P` refuses is named by the
/// variable and the flag (`DISTRO (--distro) is not valid UTF-8`), as the
/// settings' other checks name them.
#[derive(Clone)]
pub struct FromEnv<P>(pub P);

impl<P: TypedValueParser> TypedValueParser for FromEnv<P> {
    type Value = P::Value;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        self.0.parse_ref(cmd, arg, value).map_err(|e| {
            let Some((arg, var)) = arg.and_then(|a| a.get_env().map(|v| (a, v))) else {
                return e;
            };
            let flag = arg.get_long().unwrap_or_default();
            let from_env = std::env::var_os(var).as_deref() == Some(value);
            let what = match (from_env, value.to_str()) {
                (true, None) => format!(
                    "{} (--{flag}) is not valid UTF-8: set it to text, or unset it",
                    var.to_string_lossy()
                ),
                (true, Some(text)) => format!(
                    "{} (--{flag}) `{text}` is not valid{}",
                    var.to_string_lossy(),
                    std::error::Error::source(&e)
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
                (false, None) => format!("--{flag}: the value is not valid UTF-8"),
                (false, Some(_)) => return e,
            };
            let mut cmd = cmd.clone();
            cmd.error(ErrorKind::InvalidValue, what)
        })
    }
}

/// Build the container image in which OpenBMC-style C++ repositories run
/// their unit tests.
///
/// A base stage (distro and tools), one stage per package in packages.d/
/// (download a pinned revision, build it, install into /usr/local), built
/// in parallel as their dependencies finish, and a final image holding them
/// all. Each stage is tagged with a hash of its Dockerfile, so unchanged
/// stages are reused. Without a subcommand, runs `build` (the options below
/// are build's): the final image's tag is the only thing printed on stdout
/// (img=$(build-unit-test-docker)). With a subcommand, only --root may come
/// before it; its options go after it.
#[derive(Debug, Parser)]
#[command(
    name = "build-unit-test-docker",
    version,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// Project root: the directory holding packages.d/ and templates/.
    #[arg(long, global = true, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub build: BuildArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every stage and the final image; print the final tag on stdout.
    Build(BuildArgs),
    /// Check every manifest and template; report all problems (exit 1 if any error).
    Validate(ValidateArgs),
    /// List the packages: name, revision, build type, dependencies.
    List(ListArgs),
    /// Print the JSON schema of a package manifest (schema/package.schema.json).
    Schema,
    /// Write or print every stage's Dockerfile and tag, without building.
    Render(RenderCmd),
    /// Show the dependency graph of the stages.
    Graph(GraphArgs),
    /// Set one package's revision (or a base pin) in its TOML file.
    Bump(BumpArgs),
    /// Show which pinned packages have newer releases upstream.
    Outdated(OutdatedArgs),
    /// Apply what `outdated` finds, through the same edit path as `bump`.
    Update(UpdateArgs),
    /// Why stages will rebuild: the change since each was last built here.
    Explain(ExplainArgs),
    /// Remove this tool's images of past weeks (the engine's, or a --cache-registry's).
    ///
    /// What goes: the tags this tool makes for the image name
    /// (NAME-<stage>:YYYY-Www-<16 hex> and NAME:YYYY-Www-<16 hex>, also under a
    /// registry's name as a cache pull or push leaves them) from weeks before
    /// the current one (today, or SOURCE_DATE_EPOCH, as for the tags). Never a
    /// tag in another format or of another image name, never an image a
    /// container uses (running or stopped). Only tags are removed (`rmi`
    /// without -f): an image with another tag left is untagged, not deleted.
    /// It reads no project and looks nothing up.
    Prune(PruneArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Write the man pages (one per subcommand), or print the main one.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Stages or packages to explain (default: every stage that will build).
    pub stages: Vec<String>,

    /// The container engine executable (default: docker on PATH, else podman).
    #[arg(long, value_name = "PATH")]
    pub engine: Option<PathBuf>,

    #[command(flatten)]
    pub render: RenderArgs,
}

/// Output format of `prune`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PruneFormat {
    /// One line per tag, then what it came to.
    Table,
    /// One JSON object, for scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Also keep the N weeks before the current one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_weeks: u32,

    /// List what would go; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How to print what went (or would go).
    #[arg(long, value_enum, default_value_t = PruneFormat::Table)]
    pub format: PruneFormat,

    /// Image name whose tags are pruned (as for build).
    #[arg(
        long,
        env = "DOCKER_IMAGE_NAME",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub image_name: Option<String>,

    /// The container engine executable (default: docker on PATH, else podman).
    #[arg(long, value_name = "PATH")]
    pub engine: Option<PathBuf>,

    /// Seconds each engine call (list, inspect, rmi) may take.
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = secs)]
    pub engine_timeout: u64,

    /// Prune this registry (host[:port]/path, as build's --cache-registry)
    /// instead of the engine: the same rule on the tags of REF/NAME-<stage>
    /// and REF/NAME, through the registry's HTTP API with the engine's
    /// credentials (docker's config.json, podman's auth.json). A manifest
    /// that a tag which stays also points at is never deleted. The blobs
    /// are freed by the registry's own garbage collection.
    #[arg(long, value_name = "REF")]
    pub cache_registry: Option<String>,

    /// Seconds one registry request may take.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = secs)]
    pub cache_timeout: u64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash (source it, or put it in
    /// /usr/share/bash-completion/completions/), zsh (a file named
    /// _build-unit-test-docker on $fpath), fish (~/.config/fish/completions/).
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write build-unit-test-docker.1 and build-unit-test-docker-<command>.1
    /// into DIR (e.g. /usr/local/share/man/man1); without it, print the main page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Output format of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProblemFormat {
    /// miette reports with the offending line.
    Human,
    /// A JSON array: level, file, line, column, code, message, help.
    Json,
    /// GitHub Actions `::error file=…,line=…::` annotations.
    Github,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// How to print the problems.
    #[arg(long, value_enum, default_value_t = ProblemFormat::Human)]
    pub format: ProblemFormat,
}

/// Output format of `list` and `outdated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Aligned columns, for the terminal.
    Table,
    /// A JSON array of objects, for scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// How to print the packages.
    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// An indented tree, for the terminal.
    Text,
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// The machine a stage is rendered for: what a manifest's templates read
/// as `{{ arch }}` and `{{ jobs }}`. The build, render and `bump --checksum`
/// take the same flags, so a checksum is of the tarball the build fetches.
#[derive(Debug, Args, Clone, Default)]
pub struct MachineArgs {
    /// The machine the image is for, as `uname -m` names it (default: this
    /// one's); manifests and templates read it as {{ arch }}.
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_ARCH",
        hide_env_values = true,
        value_name = "ARCH", value_parser = text())]
    pub arch: Option<String>,

    /// CPUs for `make -j` in the stages (default: the CPUs this process may use; see `cpu_count` in base.toml).
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_CPUS",
        hide_env_values = true,
        value_name = "N", value_parser = FromEnv(clap::builder::RangedU64ValueParser::<usize>::new()))]
    pub cpus: Option<usize>,
}

/// What every stage's Dockerfile and tag depend on. Each option also reads
/// the environment variable the original script read.
#[derive(Debug, Args, Clone, Default)]
pub struct RenderArgs {
    /// Image name: tags are NAME-<stage>:<week>-<hash> and NAME:<week>-<hash>.
    #[arg(
        long,
        env = "DOCKER_IMAGE_NAME",
        hide_env_values = true,
        value_name = "NAME", value_parser = text())]
    pub image_name: Option<String>,

    /// Base distribution image (overrides `distro` in templates/base.toml).
    #[arg(long, env = "DISTRO", hide_env_values = true, value_name = "IMAGE", value_parser = text())]
    pub distro: Option<String>,

    /// Branch whose head unpinned packages build (falls back to master, then main).
    #[arg(long, env = "BRANCH", hide_env_values = true, value_name = "BRANCH", value_parser = text())]
    pub branch: Option<String>,

    /// Set in CI: the base stage then refreshes its packages every ISO week.
    #[arg(long, env = "BUILD_URL", hide_env_values = true, value_name = "URL", value_parser = text())]
    pub build_url: Option<String>,

    /// Ubuntu apt mirror to use instead of the default archive.
    #[arg(
        long,
        env = "UBUNTU_MIRROR",
        hide_env_values = true,
        value_name = "URL", value_parser = text())]
    pub ubuntu_mirror: Option<String>,

    /// HTTP proxy for the builds (build arg, git config of the final image).
    #[arg(long, env = "http_proxy", hide_env_values = true, value_name = "URL", value_parser = text())]
    pub http_proxy: Option<String>,

    /// HTTPS proxy build arg (default: the HTTP proxy).
    #[arg(long, env = "https_proxy", hide_env_values = true, value_name = "URL", value_parser = text())]
    pub https_proxy: Option<String>,

    /// Registry the base distribution image is pulled from (e.g. public.ecr.aws/ubuntu).
    #[arg(
        long,
        env = "DOCKER_REG",
        hide_env_values = true,
        value_name = "REGISTRY", value_parser = text())]
    pub docker_reg: Option<String>,

    /// With --gerrit-rev: this package builds that revision instead of its branch head.
    #[arg(
        long,
        env = "GERRIT_PROJECT",
        hide_env_values = true,
        value_name = "PACKAGE", value_parser = text())]
    pub gerrit_project: Option<String>,

    /// The revision for --gerrit-project.
    #[arg(
        long,
        env = "GERRIT_PATCHSET_REVISION",
        hide_env_values = true,
        value_name = "REV", value_parser = text())]
    pub gerrit_rev: Option<String>,

    /// Gerrit topic: each unpinned openbmc/ package with exactly one open
    /// change on it builds that change's current revision.
    #[arg(
        long,
        env = "GERRIT_TOPIC",
        hide_env_values = true,
        value_name = "TOPIC", value_parser = text())]
    pub gerrit_topic: Option<String>,

    /// Gerrit server asked about --gerrit-topic.
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_GERRIT_URL",
        hide_env_values = true,
        value_name = "URL",
        default_value = crate::model::settings::DEFAULT_GERRIT_URL, value_parser = text())]
    pub gerrit_url: String,

    /// Seconds one Gerrit request may take; past it the branch head is built.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = secs)]
    pub gerrit_timeout: u64,

    #[command(flatten)]
    pub machine: MachineArgs,

    /// Build on this existing image: no base stage, every stage starts FROM it.
    #[arg(long, value_name = "TAG")]
    pub base_image: Option<String>,

    /// User set up in the final image (default: $USER, else root).
    #[arg(
        long,
        env = "USER",
        hide_env_values = true,
        value_name = "NAME",
        hide_env_values = true, value_parser = text())]
    pub user: Option<String>,

    /// Home directory of that user (default: $HOME, else /root).
    #[arg(
        long,
        env = "HOME",
        hide_env_values = true,
        value_name = "DIR",
        hide_env_values = true, value_parser = text())]
    pub home: Option<String>,

    /// Numeric user id of that user (default: this process's).
    #[arg(long, value_name = "UID")]
    pub uid: Option<u32>,

    /// Numeric group id of that user (default: this process's).
    #[arg(long, value_name = "GID")]
    pub gid: Option<u32>,

    #[command(flatten)]
    pub git: GitServer,
}

/// Where package repositories are looked up (branch heads, release tags).
#[derive(Debug, Args, Clone, Default)]
pub struct GitServer {
    /// Base URL of the git server: a package's repository is BASE/<package>.
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_GIT_BASE",
        hide_env_values = true,
        value_name = "URL",
        default_value = "https://github.com", value_parser = text())]
    pub git_base_url: String,
}

#[derive(Debug, Args)]
pub struct RenderCmd {
    /// Write DIR/<stage>.Dockerfile for every stage and DIR/tags.txt; without it, print them.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct BuildArgs {
    /// Rebuild every stage, bypassing the engine's cache (FORCE_DOCKER_BUILD: any value but 0/false/no/off).
    #[arg(long, env = "FORCE_DOCKER_BUILD", hide_env_values = true, action = clap::ArgAction::SetTrue,
          value_parser = FromEnv(clap::builder::FalseyValueParser::new()))]
    pub force: bool,

    /// At most N engine builds at once (default: no limit). The ready stage
    /// with the most work after it starts first (by the last build times
    /// here, else by the number of stages after it).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// The container engine executable (default: docker on PATH, else podman).
    #[arg(long, value_name = "PATH")]
    pub engine: Option<PathBuf>,

    /// Stop a stage's build after SECS and count it failed (default: no limit; at most 30 days).
    #[arg(long, value_name = "SECS", value_parser = secs)]
    pub stage_timeout: Option<u64>,

    /// Seconds the engine may take to list its images (`image ls`), and to
    /// say its platform (with --cache-registry).
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = secs)]
    pub engine_timeout: u64,

    /// Share stages through this registry (host[:port]/path): a stage's
    /// remote name is REF/<os>-<arch>/<its tag>, the engine's platform, so
    /// machines of different architectures share nothing; needed stages
    /// missing here are pulled from it, from the final image down, before
    /// anything is built.
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_CACHE_REGISTRY",
        hide_env_values = true,
        value_name = "REF", value_parser = text())]
    pub cache_registry: Option<String>,

    /// Also push every stage built to --cache-registry (any value but
    /// 0/false/no/off in BUILD_UNIT_TEST_CACHE_PUSH).
    #[arg(long, env = "BUILD_UNIT_TEST_CACHE_PUSH", hide_env_values = true,
          action = clap::ArgAction::SetTrue,
          value_parser = FromEnv(clap::builder::FalseyValueParser::new()))]
    pub cache_push: bool,

    /// Seconds one pull, push or registry query may take.
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = secs)]
    pub cache_timeout: u64,

    /// Write a JSON report of the run to FILE: every stage's tag, outcome
    /// (built, cached, failed, skipped, cancelled), seconds and log; the
    /// final tag; the tool version (schema in the README).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Keep each stage's full build log in DIR/<stage>.log.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Show each stage, its tag and whether it is cached or would be built; build nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, Args)]
pub struct BumpArgs {
    /// A package name (openbmc/sdbusplus), or base.KEY for a pin of templates/base.toml (base.meson).
    pub target: String,

    /// The new revision or value.
    pub value: String,

    /// Show the change as a diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Download the new tarball and record its sha256 in the manifest.
    #[arg(long)]
    pub checksum: bool,

    /// Seconds the --checksum download may take in all.
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = secs)]
    pub fetch_timeout: u64,

    /// With --checksum: the machine whose tarball is downloaded, as the
    /// build is told it.
    #[command(flatten)]
    pub machine: MachineArgs,
}

#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// Packages to check (default: all pinned packages).
    pub packages: Vec<String>,

    /// Consider pre-releases (rc, beta, …) too.
    #[arg(long)]
    pub pre: bool,

    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,

    #[command(flatten)]
    pub git: GitServer,

    /// Seconds each lookup may take.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = secs)]
    pub timeout: u64,

    /// Lookups running at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub outdated: OutdatedArgs,

    /// Show the changes as diffs; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Invocation, clap::Error> {
        parse(std::iter::once("build-unit-test-docker").chain(args.iter().copied()))
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
        lenient_top(Cli::command()).debug_assert();
    }

    #[test]
    fn the_bare_command_is_build_with_its_options() {
        let i = parsed(&["--root", "r", "-j", "3", "--dry-run"]).expect("parses");
        assert_eq!(i.root, PathBuf::from("r"));
        match i.command {
            Command::Build(b) => assert_eq!((b.jobs, b.dry_run), (Some(3), true)),
            other => panic!("not build: {other:?}"),
        }
        let i = parsed(&["validate", "--root", "r"]).expect("parses");
        assert_eq!(i.root, PathBuf::from("r"), "--root after the subcommand");
        assert!(matches!(i.command, Command::Validate(_)));
    }

    #[test]
    fn an_option_before_its_subcommand_is_refused_naming_its_place() {
        let e = parsed(&["--dry-run", "bump", "a/b", "v2"]).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
        assert!(e.use_stderr(), "a usage error: exit 2");
        assert!(
            e.to_string().contains(
                "`--dry-run` goes after the subcommand: `build-unit-test-docker bump --dry-run …`"
            ),
            "{e}"
        );
        let e = parsed(&["--log-dir", "d", "list"]).expect_err("refused");
        assert!(
            e.to_string().contains(
                "`--log-dir` is not an option of `list`: it is `build`'s \
                 (`build-unit-test-docker build --log-dir <DIR>`)"
            ),
            "{e}"
        );
        assert!(parsed(&["--root", "r", "list"]).is_ok(), "--root is global");
    }

    #[test]
    fn seconds_are_from_one_to_thirty_days() {
        assert_eq!(secs("1"), Ok(1));
        assert_eq!(secs("2592000"), Ok(MAX_SECS));
        assert_eq!(
            secs("2592001"),
            Err("must be at most 2592000 seconds (30 days)".to_owned())
        );
        assert_eq!(
            secs("18446744073709551616"),
            Err("`18446744073709551616` is not a whole number of seconds".to_owned())
        );
        assert_eq!(secs("0"), Err("must be at least 1 second".to_owned()));
        assert!(secs("-1").is_err() && secs("1.5").is_err());
    }
}
