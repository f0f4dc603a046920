//! The command line (clap derive). Doc comments are the `--help` text.
//!
//! Owns: argument parsing only. Must not: do any work; `commands` turns
//! these values into actions.

// The doc comments below are `--help` text, written for a terminal:
// `<stage>` and `[:port]` there are not HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build the container image in which OpenBMC-style C++ repositories run
/// their unit tests.
///
/// A base stage (distro and tools), one stage per package in packages.d/
/// (download a pinned revision, build it, install into /usr/local), built
/// in parallel as their dependencies finish, and a final image holding them
/// all. Each stage is tagged with a hash of its Dockerfile, so unchanged
/// stages are reused. Without a subcommand, runs `build`: the final image's
/// tag is the only thing printed on stdout (img=$(build-unit-test-docker)).
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
          value_parser = clap::value_parser!(u64).range(1..))]
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
          value_parser = clap::value_parser!(u64).range(1..))]
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

/// What every stage's Dockerfile and tag depend on. Each option also reads
/// the environment variable the original script read.
#[derive(Debug, Args, Clone, Default)]
pub struct RenderArgs {
    /// Image name: tags are NAME-<stage>:<week>-<hash> and NAME:<week>-<hash>.
    #[arg(
        long,
        env = "DOCKER_IMAGE_NAME",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub image_name: Option<String>,

    /// Base distribution image (overrides `distro` in templates/base.toml).
    #[arg(long, env = "DISTRO", hide_env_values = true, value_name = "IMAGE")]
    pub distro: Option<String>,

    /// Branch whose head unpinned packages build (falls back to master, then main).
    #[arg(long, env = "BRANCH", hide_env_values = true, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// Set in CI: the base stage then refreshes its packages every ISO week.
    #[arg(long, env = "BUILD_URL", hide_env_values = true, value_name = "URL")]
    pub build_url: Option<String>,

    /// Ubuntu apt mirror to use instead of the default archive.
    #[arg(
        long,
        env = "UBUNTU_MIRROR",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub ubuntu_mirror: Option<String>,

    /// HTTP proxy for the builds (build arg, git config of the final image).
    #[arg(long, env = "http_proxy", hide_env_values = true, value_name = "URL")]
    pub http_proxy: Option<String>,

    /// HTTPS proxy build arg (default: the HTTP proxy).
    #[arg(long, env = "https_proxy", hide_env_values = true, value_name = "URL")]
    pub https_proxy: Option<String>,

    /// Registry the base distribution image is pulled from (e.g. public.ecr.aws/ubuntu).
    #[arg(
        long,
        env = "DOCKER_REG",
        hide_env_values = true,
        value_name = "REGISTRY"
    )]
    pub docker_reg: Option<String>,

    /// With --gerrit-rev: this package builds that revision instead of its branch head.
    #[arg(
        long,
        env = "GERRIT_PROJECT",
        hide_env_values = true,
        value_name = "PACKAGE"
    )]
    pub gerrit_project: Option<String>,

    /// The revision for --gerrit-project.
    #[arg(
        long,
        env = "GERRIT_PATCHSET_REVISION",
        hide_env_values = true,
        value_name = "REV"
    )]
    pub gerrit_rev: Option<String>,

    /// Gerrit topic: each unpinned openbmc/ package with exactly one open
    /// change on it builds that change's current revision.
    #[arg(
        long,
        env = "GERRIT_TOPIC",
        hide_env_values = true,
        value_name = "TOPIC"
    )]
    pub gerrit_topic: Option<String>,

    /// Gerrit server asked about --gerrit-topic.
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_GERRIT_URL",
        hide_env_values = true,
        value_name = "URL",
        default_value = "https://gerrit.openbmc.org"
    )]
    pub gerrit_url: String,

    /// Seconds one Gerrit request may take; past it the branch head is built.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub gerrit_timeout: u64,

    /// The machine the image is for, as `uname -m` names it (default: this
    /// one's); manifests and templates read it as {{ arch }}.
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_ARCH",
        hide_env_values = true,
        value_name = "ARCH"
    )]
    pub arch: Option<String>,

    /// CPUs for `make -j` in the stages (default: the CPUs this process may use; see `cpu_count` in base.toml).
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_CPUS",
        hide_env_values = true,
        value_name = "N"
    )]
    pub cpus: Option<usize>,

    /// Build on this existing image: no base stage, every stage starts FROM it.
    #[arg(long, value_name = "TAG")]
    pub base_image: Option<String>,

    /// User set up in the final image (default: $USER, else root).
    #[arg(
        long,
        env = "USER",
        hide_env_values = true,
        value_name = "NAME",
        hide_env_values = true
    )]
    pub user: Option<String>,

    /// Home directory of that user (default: $HOME, else /root).
    #[arg(
        long,
        env = "HOME",
        hide_env_values = true,
        value_name = "DIR",
        hide_env_values = true
    )]
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
        default_value = "https://github.com"
    )]
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
          value_parser = clap::builder::FalseyValueParser::new())]
    pub force: bool,

    /// At most N engine builds at once (default: no limit). The ready stage
    /// with the most work after it starts first (by the last build times
    /// here, else by the number of stages after it).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// The container engine executable (default: docker on PATH, else podman).
    #[arg(long, value_name = "PATH")]
    pub engine: Option<PathBuf>,

    /// Stop a stage's build after SECS and count it failed (default: no limit).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stage_timeout: Option<u64>,

    /// Seconds the engine may take to list its images (`image ls`).
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub engine_timeout: u64,

    /// Share stages through this registry (host[:port]/path): a stage's
    /// remote name is REF/<its tag>; needed stages missing here are pulled
    /// from it, from the final image down, before anything is built.
    #[arg(
        long,
        env = "BUILD_UNIT_TEST_CACHE_REGISTRY",
        hide_env_values = true,
        value_name = "REF"
    )]
    pub cache_registry: Option<String>,

    /// Also push every stage built to --cache-registry (any value but
    /// 0/false/no/off in BUILD_UNIT_TEST_CACHE_PUSH).
    #[arg(long, env = "BUILD_UNIT_TEST_CACHE_PUSH", hide_env_values = true,
          action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub cache_push: bool,

    /// Seconds one pull, push or registry query may take.
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
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
          value_parser = clap::value_parser!(u64).range(1..))]
    pub fetch_timeout: u64,
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
    #[arg(long, value_name = "SECS", default_value_t = 30)]
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
