//! Asking Gerrit which open change of a project is on a topic
//! (GERRIT_TOPIC), through its REST API and the `curl` on PATH.
//!
//! Owns: the two queries OpenBMC's script makes (`/changes/?q=…` and
//! `/changes/ID/revisions/current/commit`), stripping Gerrit's `)]}'`
//! guard line and reading the JSON. Must not: decide what a package builds
//! (that is `crate::run::revs`), or print.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// Most of an answer kept: a topic's change list is a few KiB.
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;

/// What Gerrit says about a project on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// Exactly one open change: its current revision.
    One { commit: String },
    /// No open change.
    None,
    /// More than one open change: which to build is not clear.
    Many(usize),
}

/// Python's `urllib.parse.quote_plus`: letters, digits and `_.-~` stay,
/// a space becomes `+`, every other byte `%XX`.
pub fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The query URL for open changes of `project` on `topic`, as OpenBMC's
/// script builds it.
pub fn query_url(server: &str, project: &str, topic: &str) -> String {
    format!(
        "{}/changes/?q=status:open+project:{project}+topic:\"{}\"",
        server.trim_end_matches('/'),
        quote_plus(topic)
    )
}

/// Asks `server` for the open change of `project` on `topic`; each request
/// may take `timeout`.
pub fn change_on_topic(
    server: &str,
    project: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Topic, String> {
    let changes = get_json(&query_url(server, project, topic), timeout)?;
    let changes = changes
        .as_array()
        .ok_or_else(|| "its answer to the query is not a list of changes".to_owned())?;
    let id = match changes.as_slice() {
        [] => return Ok(Topic::None),
        [one] => one
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| "the change it lists has no `id`".to_owned())?,
        many => return Ok(Topic::Many(many.len())),
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_graphic() && !"\"'\\<>`".contains(c))
    {
        return Err(format!("the change id {id:?} is not usable in a URL"));
    }
    let url = format!(
        "{}/changes/{id}/revisions/current/commit",
        server.trim_end_matches('/')
    );
    let commit = get_json(&url, timeout)?;
    let commit = commit
        .get("commit")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{url} names no `commit`"))?;
    if commit.len() < 7 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{url} gave `{commit}`, which is not a commit id"));
    }
    Ok(Topic::One {
        commit: commit.to_ascii_lowercase(),
    })
}

/// GETs `url` with curl and parses Gerrit's JSON (after its `)]}'` line).
fn get_json(url: &str, timeout: Duration) -> Result<Value, String> {
    let secs = timeout.as_secs().max(1).to_string();
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--fail",
        "--proto",
        "=http,https",
        "--connect-timeout",
        &secs,
        "--max-time",
        &secs,
        "--",
        url,
    ]);
    // curl keeps its own time; ours is the backstop.
    let finished = crate::process::run(cmd, timeout + Duration::from_secs(2), ANSWER_LIMIT)
        .map_err(|e| e.to_string())?;
    if !finished.status.success() {
        let why = crate::printable::printable(&finished.stderr)
            .trim()
            .to_owned();
        return Err(format!(
            "`{}` failed ({}){}",
            finished.command,
            finished.status,
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        ));
    }
    if finished.stdout_truncated {
        return Err(format!("{url} answered more than 4 MiB"));
    }
    parse_answer(&String::from_utf8_lossy(&finished.stdout))
        .map_err(|why| format!("{url} answered {why}"))
}

/// Gerrit's JSON, after the `)]}'` line that guards it against XSSI.
pub fn parse_answer(text: &str) -> Result<Value, String> {
    let body = text
        .trim_start()
        .strip_prefix(")]}'")
        .unwrap_or(text)
        .trim();
    serde_json::from_str(body).map_err(|e| format!("something that is not Gerrit's JSON ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_plus_is_pythons() {
        assert_eq!(quote_plus("my topic/x"), "my+topic%2Fx");
        assert_eq!(quote_plus("a~b_c.d-e"), "a~b_c.d-e");
        assert_eq!(quote_plus("\"q\"&"), "%22q%22%26");
        assert_eq!(quote_plus("é"), "%C3%A9");
    }

    #[test]
    fn the_query_is_the_scripts() {
        assert_eq!(
            query_url("https://gerrit.example/", "openbmc/sdbusplus", "my topic"),
            "https://gerrit.example/changes/?q=status:open+project:openbmc/sdbusplus+topic:\"my+topic\""
        );
    }

    #[test]
    fn answers_lose_their_guard_line() {
        let v = parse_answer(")]}'\n[{\"id\":\"x\"}]\n").expect("parses");
        assert_eq!(v[0]["id"], "x");
        assert!(parse_answer("<html>").is_err());
        assert!(parse_answer("[]").expect("bare JSON").is_array());
    }
}
