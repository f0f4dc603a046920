//! `list`: the packages as a table or JSON.

use std::path::Path;

use serde::Serialize;

use crate::cli::{ListArgs, TableFormat};

use super::CmdError;

#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    rev: Option<&'a str>,
    build_type: &'a str,
    depends: &'a [String],
    file: String,
}

pub fn run(root: &Path, args: &ListArgs) -> Result<(), CmdError> {
    let project = super::load_for_view(root)?;
    let rows: Vec<Row<'_>> = project
        .packages
        .values()
        .map(|p| Row {
            name: &p.manifest.name,
            rev: p.manifest.rev.as_deref(),
            build_type: &p.manifest.build_type,
            depends: &p.manifest.depends,
            file: p.source.path.display().to_string(),
        })
        .collect();
    let out = match args.format {
        TableFormat::Json => {
            let mut s = serde_json::to_string_pretty(&rows).unwrap_or_default();
            s.push('\n');
            s
        }
        TableFormat::Table => {
            let cells: Vec<[String; 4]> = rows
                .iter()
                .map(|r| {
                    [
                        r.name.to_owned(),
                        r.rev.unwrap_or("branch head").to_owned(),
                        r.build_type.to_owned(),
                        if r.depends.is_empty() {
                            "-".to_owned()
                        } else {
                            r.depends.join(", ")
                        },
                    ]
                })
                .collect();
            table(&["PACKAGE", "REV", "BUILD TYPE", "DEPENDS"], &cells)
        }
    };
    super::print_out(out)
}

/// A plain text table, columns padded to their widest cell (the last one unpadded).
pub(crate) fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
