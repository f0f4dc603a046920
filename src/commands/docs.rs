//! `completions` and `man`: the command line described for shells and man,
//! generated from the clap definitions so they never drift from `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

use super::{CmdError, FileError};

const BIN: &str = "build-unit-test-docker";

pub fn completions(args: &CompletionsArgs) -> Result<(), CmdError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, BIN, &mut out);
    super::print_out(&out)
}

pub fn man(args: &ManArgs) -> Result<(), CmdError> {
    let cmd = Cli::command();
    match &args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(FileError::WriteManPages)?;
            super::print_out(&page)
        }
        Some(dir) => write_pages(cmd, dir).map_err(|e| FileError::WriteManPages(e).into()),
    }
}

/// The main page and one per subcommand (`build-unit-test-docker-bump.1`).
fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut write = |name: String, cmd: clap::Command| -> std::io::Result<()> {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        let file = dir.join(format!("{name}.1"));
        crate::maintain::edit::replace_entry(&file, &String::from_utf8_lossy(&page))?;
        written.push(file);
        Ok(())
    };
    for sub in cmd.get_subcommands() {
        let name = format!("{BIN}-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).bin_name(name.clone());
        write(name, sub)?;
    }
    write(BIN.to_owned(), cmd)?;
    let mut stderr = std::io::stderr().lock();
    for file in &written {
        let _ = writeln!(stderr, "wrote {}", file.display());
    }
    Ok(())
}
