#![doc = include_str!("../README.md")]

// Data flows one way: files -> model -> check -> plan -> run; the
// command line and the commands sit at the edge, the process layer under
// everything that runs a child.
pub mod check;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod maintain;
pub mod model;
pub mod plan;
pub(crate) mod process;
pub(crate) mod run;

use std::ffi::OsString;

use clap::Parser;

/// Runs the command line `args` (program name first) and returns the exit
/// code: 0 success, 1 validation or build failure, 2 usage error.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    // SIGINT/SIGTERM now stop the children this run starts and end it
    // with 130, in every phase.
    if let Err(e) = process::install_signal_handlers() {
        eprintln!("error: cannot install signal handlers: {e}");
        return 1;
    }
    let code = commands::execute(cli);
    if process::interrupted().is_cancelled() {
        return process::INTERRUPTED;
    }
    code
}
