//! GERRIT_TOPIC against a Gerrit stand-in on 127.0.0.1: exactly one open
//! change builds its current revision, none or several fall back to the
//! branch head (saying so), a failing, unreachable or silent Gerrit is one
//! warning and the branch head within the timeout, and GERRIT_PROJECT +
//! GERRIT_PATCHSET_REVISION win over the topic.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// How the stand-in answers the query for one project.
#[derive(Clone)]
enum Behaviour {
    /// Open changes with these ids; each id's current commit is sha1(id).
    Changes(Vec<&'static str>),
    Status(u16),
    /// Takes the request and never answers.
    Silent,
}

/// A Gerrit stand-in: answers `/changes/?q=…project:P…` per project (no
/// changes for unlisted ones) and `/changes/ID/revisions/current/commit`.
struct Gerrit {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    server: Arc<tiny_http::Server>,
}

fn commit_of(id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

impl Gerrit {
    fn start(projects: &[(&str, Behaviour)]) -> Gerrit {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let projects: HashMap<String, Behaviour> = projects
            .iter()
            .map(|(p, b)| ((*p).to_owned(), b.clone()))
            .collect();
        let (srv, log) = (server.clone(), requests.clone());
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let url = request.url().to_owned();
                log.lock().expect("log").push(url.clone());
                let projects = projects.clone();
                std::thread::spawn(move || answer(request, &url, &projects));
            }
        });
        Gerrit {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            server,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("log").clone()
    }
}

impl Drop for Gerrit {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn answer(request: tiny_http::Request, url: &str, projects: &HashMap<String, Behaviour>) {
    let json = |body: String| {
        tiny_http::Response::from_string(format!(")]}}'\n{body}\n")).with_header(
            "Content-Type: application/json"
                .parse::<tiny_http::Header>()
                .expect("header"),
        )
    };
    if let Some(rest) = url.strip_prefix("/changes/?q=") {
        let project = rest
            .split('+')
            .find_map(|part| part.strip_prefix("project:"))
            .unwrap_or_default();
        match projects
            .get(project)
            .cloned()
            .unwrap_or(Behaviour::Changes(vec![]))
        {
            Behaviour::Changes(ids) => {
                let list: Vec<String> = ids
                    .iter()
                    .map(|id| format!("{{\"id\":\"{id}\",\"project\":\"{project}\"}}"))
                    .collect();
                let _ = request.respond(json(format!("[{}]", list.join(","))));
            }
            Behaviour::Status(code) => {
                let _ = request.respond(
                    tiny_http::Response::from_string("Internal server error")
                        .with_status_code(code),
                );
            }
            Behaviour::Silent => {
                std::thread::sleep(Duration::from_secs(60));
                drop(request);
            }
        }
    } else if let Some(id) = url
        .strip_prefix("/changes/")
        .and_then(|r| r.strip_suffix("/revisions/current/commit"))
    {
        let body = format!("{{\"commit\":\"{}\",\"subject\":\"x\"}}", commit_of(id));
        let _ = request.respond(json(body));
    } else {
        let _ = request.respond(tiny_http::Response::from_string("no").with_status_code(404));
    }
}

/// Renders the default root with GERRIT_TOPIC on `gerrit`; returns the
/// exit code, stdout (every stage) and stderr.
fn render(gerrit_url: &str, extra: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let git = fake_git(&[]);
    let mut cmd = tool(git.path());
    cmd.arg("--root")
        .arg(repo())
        .arg("render")
        .args(args)
        .env("GERRIT_TOPIC", "my topic")
        .env("BUILD_UNIT_TEST_GERRIT_URL", gerrit_url);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("render");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The revision a stage of the render downloads.
fn rev_in(stdout: &str, stage: &str) -> String {
    let text = stdout
        .split("\n### ")
        .find(|s| s.starts_with(&format!("{stage} ")))
        .unwrap_or_else(|| panic!("{stage} rendered"));
    let start = text.find("/archive/").expect("archive url") + "/archive/".len();
    text[start..]
        .split(".tar.gz")
        .next()
        .expect("rev")
        .to_owned()
}

fn branch_head(package: &str) -> String {
    use std::process::Command;
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%s' '{package}@master' | sha1sum | cut -d' ' -f1"
        ))
        .output()
        .expect("sha1sum");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn one_open_change_on_the_topic_is_built_and_said() {
    let gerrit = Gerrit::start(&[(
        "openbmc/sdbusplus",
        Behaviour::Changes(vec!["openbmc%2Fsdbusplus~master~I1"]),
    )]);
    let (code, stdout, stderr) = render(&gerrit.url, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    let commit = commit_of("openbmc%2Fsdbusplus~master~I1");
    assert_eq!(rev_in(&stdout, "openbmc-sdbusplus"), commit);
    assert!(
        stderr.contains(&format!(
            "Using {commit} from my topic for openbmc/sdbusplus"
        )),
        "{stderr}"
    );
    // The others have no change on the topic: their branch heads.
    assert_eq!(
        rev_in(&stdout, "openbmc-stdplus"),
        branch_head("openbmc/stdplus")
    );
    assert!(stderr.contains("openbmc/stdplus has no open change under my topic"));
    // The query is the script's, for every unpinned openbmc/ package and no other.
    let requests = gerrit.requests();
    assert!(
        requests.contains(
            &"/changes/?q=status:open+project:openbmc/sdbusplus+topic:\"my+topic\"".to_owned()
        ),
        "{requests:?}"
    );
    assert!(requests
        .contains(&"/changes/openbmc%2Fsdbusplus~master~I1/revisions/current/commit".to_owned()));
    let queried: Vec<&String> = requests.iter().filter(|r| r.contains("?q=")).collect();
    assert_eq!(
        queried.len(),
        9,
        "the nine unpinned openbmc/ packages: {queried:?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("pdbg")),
        "not an openbmc/ package"
    );
    // The depcache of the final stage names the change too.
    assert!(stdout.contains(&format!("openbmc/sdbusplus:{commit},")));
}

#[test]
fn two_open_changes_fall_back_to_the_branch_head_and_say_so() {
    let gerrit = Gerrit::start(&[(
        "openbmc/sdbusplus",
        Behaviour::Changes(vec!["a~master~I1", "a~master~I2"]),
    )]);
    let (code, stdout, stderr) = render(&gerrit.url, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        rev_in(&stdout, "openbmc-sdbusplus"),
        branch_head("openbmc/sdbusplus")
    );
    assert!(
        stderr.contains(
            "openbmc/sdbusplus has more than 1 commit under my topic; using latest upstream: 2"
        ),
        "{stderr}"
    );
}

#[test]
fn no_open_change_is_the_branch_head() {
    let gerrit = Gerrit::start(&[]);
    let (code, stdout, stderr) = render(&gerrit.url, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        rev_in(&stdout, "openbmc-sdbusplus"),
        branch_head("openbmc/sdbusplus")
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn a_failing_gerrit_is_one_warning_and_the_branch_heads() {
    let projects: Vec<(&str, Behaviour)> =
        ["openbmc/gpioplus", "openbmc/sdbusplus", "openbmc/stdplus"]
            .into_iter()
            .map(|p| (p, Behaviour::Status(500)))
            .collect();
    let gerrit = Gerrit::start(&projects);
    let (code, stdout, stderr) = render(&gerrit.url, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("3 package(s)"), "{stderr}");
    assert!(stderr.contains("500"), "{stderr}");
    assert_eq!(
        rev_in(&stdout, "openbmc-sdbusplus"),
        branch_head("openbmc/sdbusplus")
    );
}

#[test]
fn an_unreachable_gerrit_is_one_warning() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (code, stdout, stderr) = render(&format!("http://127.0.0.1:{port}"), &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("9 package(s)"), "{stderr}");
    assert_eq!(
        rev_in(&stdout, "openbmc-libpldm"),
        branch_head("openbmc/libpldm")
    );
}

#[test]
fn a_gerrit_that_never_answers_costs_at_most_the_timeout() {
    let projects: Vec<(&str, Behaviour)> = ["openbmc/sdbusplus", "openbmc/libpldm"]
        .into_iter()
        .map(|p| (p, Behaviour::Silent))
        .collect();
    let gerrit = Gerrit::start(&projects);
    let started = Instant::now();
    let (code, stdout, stderr) = render(&gerrit.url, &[], &["--gerrit-timeout", "1"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("2 package(s)"), "{stderr}");
    assert_eq!(
        rev_in(&stdout, "openbmc-sdbusplus"),
        branch_head("openbmc/sdbusplus")
    );
}

#[test]
fn gerrit_project_and_patchset_win_over_the_topic() {
    let gerrit = Gerrit::start(&[(
        "openbmc/sdbusplus",
        Behaviour::Changes(vec!["openbmc%2Fsdbusplus~master~I1"]),
    )]);
    let pinned = "0123456789abcdef0123456789abcdef01234567";
    let (code, stdout, stderr) = render(
        &gerrit.url,
        &[
            ("GERRIT_PROJECT", "openbmc/sdbusplus"),
            ("GERRIT_PATCHSET_REVISION", pinned),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rev_in(&stdout, "openbmc-sdbusplus"), pinned);
    assert!(
        stderr.contains(&format!(
            "Found Gerrit revision for openbmc/sdbusplus: {pinned}"
        )),
        "{stderr}"
    );
    assert!(
        !gerrit
            .requests()
            .iter()
            .any(|r| r.contains("project:openbmc/sdbusplus")),
        "the pinned package is not looked up on the topic"
    );
}
