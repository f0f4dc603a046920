//! The subcommands: each turns parsed arguments into work on the core and
//! prints the result. The only place that prints, besides `src/lib.rs`
//! (clap's usage errors and the one error line for the [`CmdError`] a
//! command returns) and the build's progress reporter (`run::progress`,
//! writing to the stderr handed to it here); everything for stdout goes
//! through [`print_out`], whose failure is the command's.
//!
//! Owns: reading the process environment, the clock and the user ids into
//! `Settings`; the cache folder and the build store's key (canonical root,
//! image name, BRANCH); exit codes. Must not: hold rules that belong to the core, or
//! print its own failures (it returns them).

mod build;
mod docs;
mod error;
mod explain;
mod graph;
mod list;
mod maintain;
mod prune;
mod render;
mod report;
mod validate;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::check::diag::{self, Problem};
use crate::cli::{Command, Invocation, RenderArgs};
use crate::model::project::Project;
use crate::model::settings::{self, BaseRule, IsoWeek, Settings, User};
use crate::model::sources::Sources;
use crate::plan::render::Plan;

pub(crate) use error::{
    with_sources, BuildError, CmdError, FileError, Interruption, LookupError, ProjectError,
    SettingsError, UsageError,
};

/// Exit codes.
pub const OK: i32 = 0;
pub const FAILED: i32 = 1;
pub const USAGE: i32 = 2;

/// How a command that did not fail ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    /// `validate` found errors and printed them (or their JSON): exit 1
    /// without an `error:` line.
    ProblemsReported,
}

impl Outcome {
    pub(crate) fn exit_status(self) -> i32 {
        match self {
            Outcome::Success => OK,
            Outcome::ProblemsReported => FAILED,
        }
    }
}

/// Runs the command; the caller prints the error, once.
pub(crate) fn execute(cli: Invocation) -> Result<Outcome, CmdError> {
    let root = cli.root;
    match cli.command {
        Command::Build(args) => build::run(&root, &args),
        Command::Validate(args) => return validate::run(&root, &args),
        Command::List(args) => list::run(&root, &args),
        Command::Schema => validate::schema(&root),
        Command::Render(args) => render::run(&root, &args),
        Command::Graph(args) => graph::run(&root, &args),
        Command::Bump(args) => maintain::bump(&root, &args),
        Command::Outdated(args) => maintain::outdated(&root, &args),
        Command::Update(args) => maintain::update(&root, &args),
        Command::Explain(args) => explain::run(&root, &args),
        Command::Prune(args) => prune::run(&root, &args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    }
    .map(|()| Outcome::Success)
}

/// Writes `bytes` to stdout, flushed: what every command prints there goes
/// through here. A stdout that cannot be written (a full disk, /dev/full,
/// one closed when the run started) is the command's failure (exit 1,
/// "could not write to stdout"), so `img=$(build-unit-test-docker)` never
/// holds half a tag. A reader that went away (EPIPE: `… | head -1`) is not:
/// it chose to read no further, so the rest is dropped quietly and the run
/// exits as it would have.
pub(crate) fn print_out(bytes: impl AsRef<[u8]>) -> Result<(), CmdError> {
    if bytes.as_ref().is_empty() {
        return Ok(());
    }
    if stdout_was_closed() {
        return Err(
            FileError::Stdout(std::io::Error::other("it was closed when the run started")).into(),
        );
    }
    #[allow(clippy::disallowed_methods)] // The edge: the one writer of stdout.
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(bytes.as_ref())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(FileError::Stdout(e).into()),
        Ok(()) => Ok(()),
    }
}

/// Whether stdout was closed when the process started (`>&-`). The Rust
/// runtime puts /dev/null, opened read-write, on a closed standard fd
/// before `main`; a shell's `>/dev/null` opens it write-only. So a stdout
/// that is /dev/null open read-write, while stderr is not /dev/null, is
/// taken as closed. When stderr is /dev/null too (a daemon's children get
/// all three from one read-write open, as daemon(3) does), nothing is
/// claimed: no one would see the error, and a run whose output is
/// discarded on purpose must not fail for it.
fn stdout_was_closed() -> bool {
    use rustix::fs::{fcntl_getfl, fstat, stat, FileType, OFlags};
    use std::os::fd::AsFd;
    let Ok(null) = stat("/dev/null") else {
        return false;
    };
    let is_null = |fd: rustix::fd::BorrowedFd<'_>| {
        fstat(fd).is_ok_and(|m| {
            FileType::from_raw_mode(m.st_mode) == FileType::CharacterDevice
                && m.st_rdev == null.st_rdev
        })
    };
    #[allow(clippy::disallowed_methods)] // Only its file descriptor is looked at.
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    is_null(stdout.as_fd())
        && !is_null(stderr.as_fd())
        && fcntl_getfl(&stdout).is_ok_and(|f| f & OFlags::ACCMODE == OFlags::RDWR)
}

/// Prints problems on stderr as miette reports.
pub(crate) fn print_problems(problems: &[Problem]) {
    if problems.is_empty() {
        return;
    }
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = std::io::stderr().write_all(diag::render_human(problems, color).as_bytes());
}

/// A check interrupted by SIGINT/SIGTERM: its renders stopped early, so
/// what it found is not reported.
pub(crate) fn unless_interrupted() -> Result<(), CmdError> {
    if crate::process::interrupted().is_cancelled() {
        return Err(CmdError::Interrupted(Interruption::Check));
    }
    Ok(())
}

/// The error of a project whose problems were printed.
pub(crate) fn invalid(root: &Path, problems: &[Problem]) -> CmdError {
    ProjectError::Invalid {
        errors: problems.iter().filter(|p| p.is_error()).count(),
        root: root.to_path_buf(),
    }
    .into()
}

/// Loads and validates the project; prints problems (warnings too) and
/// fails on any error. Invalid manifests never go further.
pub(crate) fn load(root: &Path) -> Result<Project, CmdError> {
    load_sources(root).map(|(_, project)| project)
}

/// As `load`, also giving the sources the project was checked from: what
/// an edit changes, in memory, and checks again before writing.
pub(crate) fn load_sources(root: &Path) -> Result<(Sources, Project), CmdError> {
    let sources = Sources::read(root);
    let checked = crate::check::check(&sources);
    unless_interrupted()?;
    print_problems(&checked.problems);
    let project = checked
        .project
        .ok_or_else(|| invalid(root, &checked.problems))?;
    Ok((sources, project))
}

/// Loads the project for a view (`list`, `graph`): with problems, what
/// parsed is still shown, after the problems and a warning.
pub(crate) fn load_for_view(root: &Path) -> Result<Project, CmdError> {
    let checked = crate::check::check_root(root);
    unless_interrupted()?;
    print_problems(&checked.problems);
    if let Some(project) = checked.project {
        return Ok(project);
    }
    let errors = checked.problems.iter().filter(|p| p.is_error()).count();
    match checked.partial {
        Some(partial) => {
            let _ = writeln!(
                std::io::stderr(),
                "warning: {errors} problem(s) in {}; showing the {} package(s) whose manifests parse \
                 (run `build-unit-test-docker validate` for the full report)",
                root.display(),
                partial.packages.len()
            );
            Ok(partial)
        }
        None => Err(invalid(root, &checked.problems)),
    }
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

/// What a run's settings read besides its flags: the environment, the
/// clock, the machine and the process. Made from the real process by
/// [`Inputs::of_process`]; tests make their own.
pub(crate) struct Inputs {
    /// Environment variables (only those the settings read).
    pub env: std::collections::BTreeMap<String, String>,
    /// Now, as seconds since the epoch.
    pub now: i64,
    /// The CPUs this process may run on (its affinity, as nproc counts).
    pub available_cpus: usize,
    /// `uname -m`.
    pub machine: String,
    /// The process's user and group ids.
    pub ids: (u32, u32),
}

impl Inputs {
    pub(crate) fn of_process() -> Result<Inputs, SettingsError> {
        // OMP_* that are not text are ignored, as nproc ignores any value
        // it cannot read; SOURCE_DATE_EPOCH names the tags, so it is refused.
        let mut env: BTreeMap<String, String> = ["OMP_NUM_THREADS", "OMP_THREAD_LIMIT"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
            .collect();
        if let Some(epoch) = std::env::var_os("SOURCE_DATE_EPOCH") {
            let epoch = epoch
                .into_string()
                .map_err(|_| SettingsError::SourceDateEpochNotUtf8)?;
            env.insert("SOURCE_DATE_EPOCH".to_owned(), epoch);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| SettingsError::ClockBeforeEpoch)?;
        // What nproc counts: the CPUs this process may run on (its affinity).
        let available_cpus = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .and_then(settings::count_cpu_list)
            })
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(Inputs {
            env,
            now: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            available_cpus,
            machine: settings::machine(),
            ids: process_ids(),
        })
    }
}

/// The settings of this run, from flags, the environment and the clock.
pub(crate) fn settings(
    args: &RenderArgs,
    force: bool,
    cpu_rule: settings::CpuCount,
) -> Result<Settings, SettingsError> {
    settings_from(args, force, cpu_rule, &Inputs::of_process()?)
}

/// The machine a stage is rendered for (`{{ arch }}`, `{{ jobs }}`) from
/// `--arch` and `--cpus` (or their variables) and `inputs`: the one rule the
/// build, render and `bump --checksum` share.
pub(crate) fn machine_from(
    args: &crate::cli::MachineArgs,
    cpu_rule: settings::CpuCount,
    inputs: &Inputs,
) -> Result<(String, usize), SettingsError> {
    let var = |k: &str| inputs.env.get(k).map(String::as_str);
    let arch = non_empty(&args.arch).unwrap_or_else(|| inputs.machine.clone());
    if !settings::is_arch_name(&arch) {
        return Err(SettingsError::NotAnArch(arch));
    }
    let cpus = match args.cpus {
        Some(0) => return Err(SettingsError::ZeroCpus),
        Some(n) => n,
        None => match cpu_rule {
            settings::CpuCount::Affinity => inputs.available_cpus,
            settings::CpuCount::Nproc => settings::nproc(
                inputs.available_cpus,
                var("OMP_NUM_THREADS"),
                var("OMP_THREAD_LIMIT"),
            ),
        },
    };
    Ok((arch, cpus))
}

/// The settings from flags and `inputs`: pure, so tests run it in-process.
pub(crate) fn settings_from(
    args: &RenderArgs,
    force: bool,
    cpu_rule: settings::CpuCount,
    inputs: &Inputs,
) -> Result<Settings, SettingsError> {
    let var = |k: &str| inputs.env.get(k).map(String::as_str);
    let week = match var("SOURCE_DATE_EPOCH") {
        Some(v) if !v.trim().is_empty() => {
            let secs: i64 = v
                .trim()
                .parse()
                .map_err(|_| SettingsError::SourceDateEpochNotANumber(v.to_owned()))?;
            IsoWeek::from_unix(secs)
                .ok_or_else(|| SettingsError::SourceDateEpochOutOfRange(v.to_owned()))?
        }
        _ => IsoWeek::from_unix(inputs.now).ok_or(SettingsError::ClockOutOfRange)?,
    };
    let (arch, cpus) = machine_from(&args.machine, cpu_rule, inputs)?;
    let (uid, gid) = (
        args.uid.unwrap_or(inputs.ids.0),
        args.gid.unwrap_or(inputs.ids.1),
    );
    let http_proxy = non_empty(&args.http_proxy);
    let settings = Settings {
        image_name: non_empty(&args.image_name)
            .unwrap_or_else(|| settings::DEFAULT_IMAGE_NAME.to_owned()),
        force,
        ci_build: non_empty(&args.build_url).is_some(),
        distro: non_empty(&args.distro),
        branch: non_empty(&args.branch).unwrap_or_else(|| "master".to_owned()),
        ubuntu_mirror: non_empty(&args.ubuntu_mirror),
        https_proxy: non_empty(&args.https_proxy).or_else(|| http_proxy.clone()),
        http_proxy,
        docker_reg: non_empty(&args.docker_reg),
        gerrit_project: non_empty(&args.gerrit_project),
        gerrit_rev: non_empty(&args.gerrit_rev),
        gerrit_topic: non_empty(&args.gerrit_topic),
        gerrit_url: args.gerrit_url.clone(),
        gerrit_timeout: std::time::Duration::from_secs(args.gerrit_timeout),
        cpus,
        user: User {
            name: non_empty(&args.user).unwrap_or_else(|| "root".to_owned()),
            home: non_empty(&args.home).unwrap_or_else(|| "/root".to_owned()),
            uid,
            gid,
        },
        arch,
        week,
        base_image: non_empty(&args.base_image),
    };
    crate::check::settings::check(&settings).map_err(SettingsError::Refused)?;
    Ok(settings)
}

/// This process's real user and group ids.
fn process_ids() -> (u32, u32) {
    (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    )
}

/// Loads the project and makes the run's settings: what every command that
/// renders starts with.
pub(crate) fn prepare(
    root: &Path,
    args: &RenderArgs,
    force: bool,
) -> Result<(Project, Settings), CmdError> {
    let project = load(root)?;
    let settings = settings(args, force, settings::CpuCount::of(&project.templates))?;
    Ok((project, settings))
}

/// Loads, resolves revisions and renders: what render and build share.
pub(crate) fn plan(
    root: &Path,
    args: &RenderArgs,
    force: bool,
) -> Result<(Project, Settings, Plan), CmdError> {
    let (project, settings) = prepare(root, args, force)?;
    let resolved = resolve_revs(&project, &settings, &args.git.git_base_url)?;
    let plan = crate::plan::render::render(&project, &resolved, &settings)?;
    Ok((project, settings, plan))
}

/// The revisions of the unpinned packages, their notes printed (what
/// `render` and `explain` need; `build` looks up in its pipeline).
pub(crate) fn resolve_revs(
    project: &Project,
    settings: &Settings,
    git_base: &str,
) -> Result<BTreeMap<String, String>, CmdError> {
    let resolution =
        crate::run::pipeline::look_up(project, settings, git_base, crate::process::interrupted())?;
    report_resolution(&resolution);
    Ok(resolution.revs)
}

/// Where the revisions came from, when not the branch heads, and the
/// lookups that failed without failing the run.
pub(crate) fn report_resolution(resolution: &crate::run::revs::Resolution) {
    let mut stderr = std::io::stderr().lock();
    for note in &resolution.notes {
        let _ = writeln!(stderr, "{note}");
    }
    for warning in &resolution.warnings {
        let _ = writeln!(stderr, "warning: {warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::CpuCount;

    fn inputs(env: &[(&str, &str)]) -> Inputs {
        Inputs {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            now: 1_613_131_200,
            available_cpus: 4,
            machine: "aarch64".to_owned(),
            ids: (1000, 1001),
        }
    }

    fn args() -> RenderArgs {
        RenderArgs {
            gerrit_url: "https://gerrit.openbmc.org".to_owned(),
            gerrit_timeout: 30,
            ..RenderArgs::default()
        }
    }

    #[test]
    fn defaults_come_from_the_inputs() {
        let s = settings_from(&args(), false, CpuCount::Affinity, &inputs(&[])).expect("ok");
        assert_eq!(s.week.stamp(), "2021-W06");
        assert_eq!((s.cpus, s.arch.as_str()), (4, "aarch64"));
        assert_eq!((s.user.uid, s.user.gid), (1000, 1001));
        assert_eq!(s.user.name, "root");
        assert_eq!(s.image_name, "openbmc/ubuntu-unit-test");
        assert_eq!(s.branch, "master");
    }

    #[test]
    fn source_date_epoch_and_omp_as_the_rules_say() {
        let i = inputs(&[
            ("SOURCE_DATE_EPOCH", "1767225600"),
            ("OMP_NUM_THREADS", "7"),
        ]);
        let s = settings_from(&args(), false, CpuCount::Nproc, &i).expect("ok");
        assert_eq!(s.week.stamp(), "2026-W01");
        assert_eq!(s.cpus, 7, "nproc follows OMP_NUM_THREADS");
        let s = settings_from(&args(), false, CpuCount::Affinity, &i).expect("ok");
        assert_eq!(s.cpus, 4, "the 2026 rule does not");
        let bad = inputs(&[("SOURCE_DATE_EPOCH", "soon")]);
        let e = settings_from(&args(), false, CpuCount::Affinity, &bad).expect_err("bad");
        assert!(
            matches!(&e, SettingsError::SourceDateEpochNotANumber(v) if v == "soon"),
            "{e}"
        );
        for far in ["-99999999999", "-1", "253402300800"] {
            let bad = inputs(&[("SOURCE_DATE_EPOCH", far)]);
            let e = settings_from(&args(), false, CpuCount::Affinity, &bad).expect_err(far);
            assert!(
                matches!(&e, SettingsError::SourceDateEpochOutOfRange(v) if v == far),
                "{far}: a tag of another year than 1970 to 9999: {e}"
            );
        }
    }

    #[test]
    fn flags_win_and_bad_values_are_refused() {
        let mut a = args();
        a.machine.cpus = Some(9);
        a.machine.arch = Some("ppc64le".to_owned());
        a.http_proxy = Some("http://p:3128".to_owned());
        let s = settings_from(&a, true, CpuCount::Affinity, &inputs(&[])).expect("ok");
        assert_eq!((s.cpus, s.arch.as_str(), s.force), (9, "ppc64le", true));
        assert_eq!(s.https_proxy.as_deref(), Some("http://p:3128"));
        a.distro = Some("ubuntu:x\nRUN touch /pwn".to_owned());
        let e = settings_from(&a, false, CpuCount::Affinity, &inputs(&[])).expect_err("bad");
        assert!(e.to_string().contains("DISTRO"), "{e}");
        assert!(CmdError::from(e).exit_status() == USAGE, "a usage error");
        a.distro = None;
        a.machine.cpus = Some(0);
        assert!(matches!(
            settings_from(&a, false, CpuCount::Affinity, &inputs(&[])),
            Err(SettingsError::ZeroCpus)
        ));
    }
}

/// A registry reference (`HOST[:PORT][/PATH]`, as `--cache-registry`
/// takes it) without its trailing `/`, checked; `flag` names where it came
/// from in the error.
pub(crate) fn registry_reference<'a>(
    reference: &'a str,
    flag: &'static str,
) -> Result<&'a str, UsageError> {
    let reference = reference.trim_end_matches('/');
    crate::check::shell::check_registry(reference)
        .map(|()| reference)
        .map_err(|why| UsageError::BadRegistry {
            flag,
            reference: reference.to_owned(),
            why,
        })
}

/// The cache folder: BUILD_UNIT_TEST_CACHE_DIR, else $XDG_CACHE_HOME or
/// ~/.cache, plus `build-unit-test-docker`.
pub(crate) fn cache_dir(env: impl Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    if let Some(dir) = env("BUILD_UNIT_TEST_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(dir.into());
    }
    let base = env("XDG_CACHE_HOME")
        .filter(|d| d.starts_with('/'))
        .map(std::path::PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".cache"))
        })?;
    Some(base.join("build-unit-test-docker"))
}

/// This root's build store (keyed by the canonical root, the image name
/// and BRANCH), in the cache folder; None when there is no folder to use
/// (no HOME and no BUILD_UNIT_TEST_CACHE_DIR).
pub(crate) fn open_store(
    root: &Path,
    settings: &Settings,
    mode: crate::run::store::Mode,
) -> Option<crate::run::store::Store> {
    let dir = cache_dir(|k| std::env::var(k).ok())?;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let key = crate::run::store::Key {
        root: root.to_string_lossy().into_owned(),
        image: settings.image_name.clone(),
        branch: settings.branch.clone(),
    };
    Some(crate::run::store::Store::open(&dir, key, mode))
}

/// The store's warning, as a command prints it after `warning: `.
pub(crate) fn store_warning(store: Option<&crate::run::store::Store>) -> Option<String> {
    let w = store?.warning()?;
    Some(format!(
        "{w} (the folder is BUILD_UNIT_TEST_CACHE_DIR, else $XDG_CACHE_HOME/build-unit-test-docker \
         or ~/.cache/build-unit-test-docker)"
    ))
}

#[cfg(test)]
mod cache_dir_tests {
    use super::*;

    #[test]
    fn the_cache_folder_follows_xdg() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            cache_dir(env(&[("HOME", "/home/a")])),
            Some("/home/a/.cache/build-unit-test-docker".into())
        );
        assert_eq!(
            cache_dir(env(&[("HOME", "/home/a"), ("XDG_CACHE_HOME", "/c")])),
            Some("/c/build-unit-test-docker".into())
        );
        assert_eq!(
            cache_dir(env(&[("BUILD_UNIT_TEST_CACHE_DIR", "/x")])),
            Some("/x".into())
        );
        assert_eq!(cache_dir(env(&[])), None);
    }
}
