//! Problems found in a project tree, located in their file, and their three
//! renderings: miette reports for people, JSON for bots, GitHub Actions
//! annotations for CI.
//!
//! Owns: the `Problem` type and its output formats. Must not: read files or
//! decide what is a problem (that is the rest of `check`).

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, Severity,
};
use serde::Serialize;

/// How bad a problem is: errors fail `validate`, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// One problem: where it is, what it is, and what to do about it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub level: Level,
    /// Stable identifier, e.g. `manifest::unknown-dependency`.
    pub code: &'static str,
    pub file: PathBuf,
    /// The file's text, shared between the problems of one file (None when
    /// the file could not be read as text).
    pub source: Option<Arc<str>>,
    /// Byte range of the offending key or value.
    pub span: Option<Range<usize>>,
    pub message: String,
    /// Short text under the pointed-at span.
    pub label: String,
    pub help: Option<String>,
}

impl Problem {
    pub fn error(code: &'static str, file: &Path, message: impl Into<String>) -> Self {
        Problem {
            level: Level::Error,
            code,
            file: file.to_path_buf(),
            source: None,
            span: None,
            message: message.into(),
            label: String::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, file: &Path, message: impl Into<String>) -> Self {
        Problem {
            level: Level::Warning,
            ..Problem::error(code, file, message)
        }
    }

    pub fn at(
        mut self,
        source: &Arc<str>,
        span: Option<Range<usize>>,
        label: impl Into<String>,
    ) -> Self {
        self.source = Some(source.clone());
        self.span = span;
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// 1-based line and column (in characters) of the span's start.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let (source, span) = (self.source.as_ref()?, self.span.as_ref()?);
        Some(line_col(source, span.start))
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The miette view of a problem.
#[derive(Debug)]
struct Report<'a> {
    problem: &'a Problem,
    source: Option<NamedSource<Arc<str>>>,
}

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for Report<'_> {}

impl Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.problem.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(match self.problem.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.problem
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.problem.span.clone()?;
        self.source.as_ref()?;
        let label = (!self.problem.label.is_empty()).then(|| self.problem.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label, span,
        ))))
    }
}

/// Renders problems as miette reports. Without `color`, the output is plain
/// text with Unicode box characters: what the snapshot tests look at.
pub fn render_human(problems: &[Problem], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for problem in problems {
        let source = match (&problem.source, &problem.span) {
            (Some(text), Some(_)) => Some(NamedSource::new(
                problem.file.display().to_string(),
                text.clone(),
            )),
            _ => None,
        };
        let report = Report { problem, source };
        if report.source.is_none() {
            // No excerpt to show: say which file in the first line.
            let _ = writeln!(
                out,
                "{}: {}",
                problem.file.display(),
                level_word(problem.level)
            );
        }
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
    }
}

#[derive(Serialize)]
struct JsonProblem<'a> {
    level: Level,
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    code: &'a str,
    message: &'a str,
    help: Option<&'a str>,
}

/// Problems as a JSON array, one object each: level, file, line, column,
/// code, message, help.
pub fn render_json(problems: &[Problem]) -> String {
    let items: Vec<JsonProblem<'_>> = problems
        .iter()
        .map(|p| {
            let lc = p.line_col();
            JsonProblem {
                level: p.level,
                file: p.file.display().to_string(),
                line: lc.map(|(l, _)| l),
                column: lc.map(|(_, c)| c),
                code: p.code,
                message: &p.message,
                help: p.help.as_deref(),
            }
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_owned());
    out.push('\n');
    out
}

/// GitHub Actions workflow commands: `::error file=…,line=…,col=…,title=…::message`.
pub fn render_github(problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        let mut props = format!("file={}", escape_property(&p.file.display().to_string()));
        if let Some((line, col)) = p.line_col() {
            let _ = write!(props, ",line={line},col={col}");
        }
        let _ = write!(props, ",title={}", escape_property(p.code));
        let mut message = p.message.clone();
        if let Some(help) = &p.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let _ = writeln!(
            out,
            "::{} {}::{}",
            level_word(p.level),
            props,
            escape_data(&message)
        );
    }
    out
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, text.find('"').unwrap_or(0)), (2, 6));
    }

    #[test]
    fn github_lines_escape_newlines_and_commas() {
        let src: Arc<str> = Arc::from("name = \"x\"\n");
        let p = Problem::error("c", Path::new("a,b.toml"), "two\nlines")
            .at(&src, Some(7..10), "here")
            .help("fix it");
        assert_eq!(
            render_github(&[p]),
            "::error file=a%2Cb.toml,line=1,col=8,title=c::two%0Alines%0Ahelp: fix it\n"
        );
    }
}
