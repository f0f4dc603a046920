//! `validate` (the rules, then a trial render of every template) and
//! `schema`.

use std::io::Write;
use std::path::Path;

use crate::check::check_root;
use crate::check::diag;
use crate::cli::{ProblemFormat, ValidateArgs};
use crate::model::sources::{self, TEMPLATES_DIR};

use super::{CmdError, Outcome};

/// Reports every problem; errors end the run with 1, without an `error:`
/// line (the report is the message).
pub fn run(root: &Path, args: &ValidateArgs) -> Result<Outcome, CmdError> {
    let mut checked = check_root(root);
    // The rules hold: render every template as a build would, so what
    // fails only when rendered is reported here too.
    let trial = checked
        .project
        .as_ref()
        .map(crate::plan::trial::trial)
        .unwrap_or_default();
    super::unless_interrupted()?;
    if !trial.is_empty() {
        checked.problems.extend(trial);
        checked.project = None;
    }
    let problems = &checked.problems;
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    match args.format {
        ProblemFormat::Human => {
            super::print_problems(problems);
            let summary = match &checked.project {
                Some(p) if warnings == 0 => format!(
                    "ok: {} packages, {} build types",
                    p.packages.len(),
                    p.templates.build_types.len()
                ),
                Some(p) => format!("ok: {} packages, {warnings} warning(s)", p.packages.len()),
                None => format!("{errors} error(s), {warnings} warning(s)"),
            };
            let _ = writeln!(std::io::stderr(), "{summary}");
        }
        ProblemFormat::Json => {
            super::print_out(diag::render_json(problems))?;
        }
        ProblemFormat::Github => {
            super::print_out(diag::render_github(problems))?;
        }
    }
    Ok(if errors == 0 {
        Outcome::Success
    } else {
        Outcome::ProblemsReported
    })
}

/// Prints the manifest schema, its build-type enum taken from the root's templates.
pub fn schema(root: &Path) -> Result<(), CmdError> {
    let names = sources::build_type_names(&root.join(TEMPLATES_DIR));
    super::print_out(crate::model::manifest::schema_text(&names))
}
