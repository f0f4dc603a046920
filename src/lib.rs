//! build-unit-test-docker: the README below is the crate's documentation.
//!
//! Owns: the module tree and [`run()`], the one entry function (parse, run
//! the command, print its failure once, map it to the exit status). Must
//! not: hold any rule of its own.
//!
#![doc = include_str!("../README.md")]

// Data flows one way: files -> model -> check -> plan -> run (with `dag`,
// the one graph type, a leaf under them all); the
// command line and the commands sit at the edge, the process layer under
// everything that runs a child, and `printable` under all that shows a
// child's text.
pub(crate) mod check;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod dag;
pub(crate) mod maintain;
pub(crate) mod model;
pub(crate) mod plan;
pub(crate) mod printable;
pub(crate) mod process;
pub(crate) mod run;

/// The test surface: the pure core that the property tests
/// (`tests/fuzz.rs`) and the check's timing test (`tests/validate.rs`) call
/// directly: loading a root from memory, checking, rendering and the shell
/// rule. It is not an API: every module is crate-private, and the binary's
/// flags, exit codes and stdout are the interface (README, "Contracts").
#[doc(hidden)]
pub mod testing {
    pub use crate::check::{check, check_root, diag, settings, shell, Project};
    pub use crate::model::settings::{IsoWeek, Settings};
    pub use crate::model::sources::Sources;
    pub use crate::model::template::{RENDER_FUEL, RENDER_OUTPUT_CAP};
    pub use crate::plan::render::{self, Plan};
    pub use crate::plan::trial::trial;
}

use std::ffi::OsString;
use std::io::Write;

/// Runs the command line `args` (program name first) and returns the exit
/// code: 0 success, 1 validation or build failure, 2 usage error, 130
/// interrupted. A command's failure is printed here, once.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    // SIGINT/SIGTERM now stop the children this run starts and end it
    // with 130, in every phase.
    let ended = process::install_signal_handlers(model::template::stop_rendering)
        .map_err(commands::CmdError::SignalHandlers)
        .and_then(|()| commands::execute(cli));
    let code = match ended {
        Ok(outcome) => outcome.exit_status(),
        Err(e) => {
            // Defence in depth: what a child said is made printable where it
            // is read; nothing in an error line may drive the terminal.
            let line = printable::printable_str(&commands::with_sources(&e));
            let _ = writeln!(std::io::stderr(), "error: {line}");
            e.exit_status()
        }
    };
    if process::interrupted().is_cancelled() {
        return process::INTERRUPTED;
    }
    code
}
