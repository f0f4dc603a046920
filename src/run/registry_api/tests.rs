use super::credentials::*;
use super::http::*;
use super::prune::*;
use super::*;
use crate::plan::prune::Retention;

#[test]
fn answers_parse_with_their_headers() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nDocker-Content-Digest: sha256:ab\r\nContent-Length: 0\r\n\r\n";
    let r = parse_response(raw).expect("parses");
    assert_eq!(r.status, 202);
    assert_eq!(r.header("docker-content-digest"), Some("sha256:ab"));
    let r = parse_response(b"HTTP/2 404 \r\ncontent-type: application/json\r\n\r\n{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}").expect("parses");
    assert_eq!(
        (r.status, r.detail().as_str()),
        (404, ": MANIFEST_UNKNOWN manifest unknown")
    );
    assert!(parse_response(b"garbage").is_none());
}

#[test]
fn challenges_and_links_are_read() {
    let c = parse_challenge(
        r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,delete""#,
    )
    .expect("parses");
    assert_eq!(c.scheme, "bearer");
    assert_eq!(c.params["realm"], "https://auth.example/token");
    assert_eq!(c.params["scope"], "repository:a/b:pull,delete");
    let c = parse_challenge(r#"Basic realm="Registry Realm""#).expect("parses");
    assert_eq!(
        (c.scheme.as_str(), c.params["realm"].as_str()),
        ("basic", "Registry Realm")
    );
    assert_eq!(
        next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
        Some("/v2/_catalog?last=b&n=2")
    );
    assert_eq!(next_link(r#"</x>; rel="prev""#), None);
}

#[test]
fn encodings() {
    assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"a"), "YQ==");
    assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    assert_eq!(quoted("a\"b\\c\nd"), "\"a\\\"b\\\\cd\"");
    assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:5000"));
    assert!(!is_loopback("reg.example:5000") && !is_loopback("10.0.0.1"));
}

#[test]
fn credentials_come_from_the_first_file_that_names_the_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docker = dir.path().join("config.json");
    let podman = dir.path().join("auth.json");
    std::fs::write(
        &docker,
        r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"ZG9ja2VyOnB3"}}}"#,
    )
    .expect("write");
    std::fs::write(
        &podman,
        r#"{"auths":{"reg.example:5000":{"auth":"cG9kbWFuOnB3"},"other":{"auth":"eA=="}}}"#,
    )
    .expect("write");
    let t = Duration::from_secs(5);
    let files = [
        dir.path().join("missing.json"),
        podman.clone(),
        docker.clone(),
    ];
    assert_eq!(
        credentials("reg.example:5000", &files, t)
            .expect("reads")
            .as_deref(),
        Some("cG9kbWFuOnB3")
    );
    let files = [docker.clone(), podman.clone()];
    assert_eq!(
        credentials("reg.example:5000", &files, t)
            .expect("reads")
            .as_deref(),
        Some("ZG9ja2VyOnB3")
    );
    assert_eq!(credentials("elsewhere", &files, t).expect("reads"), None);
    std::fs::write(&docker, "{").expect("write");
    let e = credentials("x", &[docker], t).expect_err("not JSON");
    assert!(e.contains("config.json is not JSON"), "{e}");
}

// ------------------------------------------- a registry stand-in (HTTP)

use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Open,
    Basic,
    Bearer,
}

/// user:pass
const CREDS: &str = "dXNlcjpwYXNz";
const H: &str = "0123456789abcdef";

/// A registry on 127.0.0.1: repositories of tags → digests, the auth
/// it asks for, whether it deletes; pages of two entries.
struct StandIn {
    url: String,
    repos: Arc<Mutex<BTreeMap<String, BTreeMap<String, String>>>>,
    /// "METHOD url authorization accept" of every request.
    log: Arc<Mutex<Vec<String>>>,
    server: Arc<tiny_http::Server>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("header")
}

impl StandIn {
    fn start(auth: Auth, deletes: bool, repos: &[(&str, &[(&str, &str)])]) -> StandIn {
        Self::serve(auth, deletes, true, repos)
    }

    fn serve(
        auth: Auth,
        deletes: bool,
        catalog: bool,
        repos: &[(&str, &[(&str, &str)])],
    ) -> StandIn {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let url = format!("http://127.0.0.1:{port}");
        let repos: BTreeMap<String, BTreeMap<String, String>> = repos
            .iter()
            .map(|(r, tags)| {
                let tags = tags
                    .iter()
                    .map(|(t, d)| ((*t).to_owned(), (*d).to_owned()))
                    .collect();
                ((*r).to_owned(), tags)
            })
            .collect();
        let repos = Arc::new(Mutex::new(repos));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (srv, state, record, base) = (server.clone(), repos.clone(), log.clone(), url.clone());
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                answer(request, auth, deletes, catalog, &state, &record, &base);
            }
        });
        StandIn {
            url,
            repos,
            log,
            server,
        }
    }

    fn tags(&self, repo: &str) -> Vec<String> {
        let repos = self.repos.lock().expect("lock");
        repos
            .get(repo)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().expect("lock").clone()
    }
}

fn page(items: Vec<String>, last: Option<&str>, path: &str) -> (Vec<String>, Option<String>) {
    let start = last.map_or(0, |l| {
        items.iter().position(|i| i == l).map_or(0, |p| p + 1)
    });
    let chunk: Vec<String> = items.iter().skip(start).take(2).cloned().collect();
    let more = start + 2 < items.len();
    let link = more.then(|| format!("<{path}?n=2&last={}>; rel=\"next\"", chunk[1]));
    (chunk, link)
}

fn answer(
    request: tiny_http::Request,
    auth: Auth,
    deletes: bool,
    catalog: bool,
    state: &Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    log: &Mutex<Vec<String>>,
    base: &str,
) {
    let get = |name: &str| {
        request
            .headers()
            .iter()
            .filter(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    let method = request.method().as_str().to_owned();
    let url = request.url().to_owned();
    let authorization = get("authorization");
    log.lock().expect("lock").push(format!(
        "{method} {url} [{authorization}] [{}]",
        get("accept")
    ));
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let last = query.split('&').find_map(|kv| kv.strip_prefix("last="));
    let respond = |r: tiny_http::Response<std::io::Cursor<Vec<u8>>>| {
        let _ = request.respond(r);
    };
    let json = |status: u16, body: String| {
        tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(header("Content-Type", "application/json"))
    };
    if path == "/token" {
        if authorization == format!("Basic {CREDS}") {
            return respond(json(200, r#"{"token":"good-token"}"#.to_owned()));
        }
        return respond(json(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_owned(),
        ));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return respond(json(404, String::new()));
    };
    let (repo, what) = if rest == "_catalog" {
        (String::new(), "catalog")
    } else if let Some(r) = rest.strip_suffix("/tags/list") {
        (r.to_owned(), "tags")
    } else if let Some((r, _)) = rest.rsplit_once("/manifests/") {
        (r.to_owned(), "manifest")
    } else {
        return respond(json(404, String::new()));
    };
    let allowed = match auth {
        Auth::Open => true,
        Auth::Basic => authorization == format!("Basic {CREDS}"),
        Auth::Bearer => authorization == "Bearer good-token",
    };
    if !allowed {
        let challenge = match auth {
            Auth::Basic => r#"Basic realm="stand-in""#.to_owned(),
            _ => {
                let scope = if what == "catalog" {
                    "registry:catalog:*".to_owned()
                } else {
                    let action = if method == "DELETE" { "delete" } else { "pull" };
                    format!("repository:{repo}:{action}")
                };
                format!(r#"Bearer realm="{base}/token",service="stand-in",scope="{scope}""#)
            }
        };
        return respond(
            json(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .to_owned(),
            )
            .with_header(header("WWW-Authenticate", &challenge)),
        );
    }
    let mut repos = state.lock().expect("lock");
    match (method.as_str(), what) {
        ("GET", "catalog") if !catalog => respond(json(404, String::new())),
        ("GET", "catalog") => {
            let (names, link) = page(repos.keys().cloned().collect(), last, "/v2/_catalog");
            let mut r = json(
                200,
                serde_json::json!({ "repositories": names }).to_string(),
            );
            if let Some(l) = link {
                r = r.with_header(header("Link", &l));
            }
            respond(r)
        }
        ("GET", "tags") => {
            let Some(tags) = repos.get(&repo) else {
                return respond(json(
                    404,
                    r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#.to_owned(),
                ));
            };
            let (tags, link) = page(
                tags.keys().cloned().collect(),
                last,
                &format!("/v2/{repo}/tags/list"),
            );
            let mut r = json(
                200,
                serde_json::json!({ "name": repo, "tags": tags }).to_string(),
            );
            if let Some(l) = link {
                r = r.with_header(header("Link", &l));
            }
            respond(r)
        }
        ("HEAD", "manifest") => {
            let tag = rest
                .rsplit_once("/manifests/")
                .map(|(_, t)| t)
                .unwrap_or_default();
            match repos.get(&repo).and_then(|t| t.get(tag)) {
                Some(d) => respond(
                    json(200, String::new()).with_header(header("Docker-Content-Digest", d)),
                ),
                None => respond(json(404, String::new())),
            }
        }
        ("DELETE", "manifest") => {
            if !deletes {
                return respond(json(405, r#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#.to_owned()));
            }
            let digest = rest
                .rsplit_once("/manifests/")
                .map(|(_, t)| t.to_owned())
                .unwrap_or_default();
            let Some(tags) = repos.get_mut(&repo) else {
                return respond(json(404, String::new()));
            };
            let before = tags.len();
            tags.retain(|_, d| *d != digest);
            respond(json(
                if tags.len() < before { 202 } else { 404 },
                String::new(),
            ))
        }
        _ => respond(json(405, String::new())),
    }
}

fn retention() -> Retention {
    Retention {
        current: crate::model::settings::IsoWeek::new(2026, 3).expect("week"),
        keep_weeks: 0,
    }
}

fn w(week: u8) -> String {
    format!("2026-W{week:02}-{H}")
}

/// ci/bud-base: W01 (d1), W02 and W03 (d2, shared), latest on d1?
/// no: latest on d0 with W00… kept simple below.
fn fleet(auth: Auth, deletes: bool) -> StandIn {
    let (w1, w2, w3) = (w(1), w(2), w(3));
    StandIn::start(
        auth,
        deletes,
        &[
            (
                "ci/bud-base",
                &[(&w1, "sha256:b1"), (&w2, "sha256:b2"), (&w3, "sha256:b3")],
            ),
            (
                "ci/bud-acme-a",
                &[(&w1, "sha256:a1"), (&w2, "sha256:a3"), (&w3, "sha256:a3")],
            ),
            (
                "ci/bud",
                &[
                    (&w1, "sha256:f1"),
                    ("latest", "sha256:f1"),
                    (&w3, "sha256:f3"),
                ],
            ),
            (
                "ci/linux-amd64/bud-base",
                &[(&w1, "sha256:l1"), (&w3, "sha256:l3")],
            ),
            ("ci/budfoo-base", &[(&w1, "sha256:x1")]),
            ("ci/other-base", &[(&w1, "sha256:o1")]),
            ("elsewhere/bud-base", &[(&w1, "sha256:e1")]),
        ],
    )
}

fn api(reg: &StandIn, basic: Option<&str>) -> Api {
    Api::at(&reg.url, basic.map(str::to_owned), Duration::from_secs(20))
}

fn prune(reg: &StandIn, basic: Option<&str>, dry_run: bool) -> Result<RegistryOutcome, ApiError> {
    prune_registry(
        &api(reg, basic),
        "ci",
        "bud",
        &retention(),
        dry_run,
        Vec::new,
    )
}

#[test]
fn old_manifests_go_and_shared_ones_stay() {
    let reg = fleet(Auth::Basic, true);
    let dry = prune(&reg, Some(CREDS), true).expect("dry run");
    let deleted: usize = dry.repositories.iter().map(|r| r.deleted.len()).sum();
    assert_eq!(
        deleted, 4,
        "base W01 and W02, acme-a W01, the arch's base W01: {dry:?}"
    );
    assert_eq!(
        reg.tags("ci/bud-base").len(),
        3,
        "a dry run deletes nothing"
    );
    assert!(!reg.log().iter().any(|l| l.starts_with("DELETE")));

    let out = prune(&reg, Some(CREDS), false).expect("prune");
    assert_eq!(out.listed, Listed::Catalog);
    let names: Vec<&str> = out
        .repositories
        .iter()
        .map(|r| r.repository.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ci/bud",
            "ci/bud-acme-a",
            "ci/bud-base",
            "ci/linux-amd64/bud-base"
        ],
        "by prefix, paged"
    );
    assert_eq!(reg.tags("ci/linux-amd64/bud-base"), [w(3)]);
    assert_eq!(reg.tags("ci/bud-base"), [w(3)]);
    // W02 of acme-a is the manifest of W03: it stays, and says so.
    assert_eq!(reg.tags("ci/bud-acme-a"), [w(2), w(3)]);
    let acme = &out.repositories[1];
    assert_eq!(acme.shared[0].old_tags, [w(2)]);
    assert_eq!(acme.shared[0].kept_tags, [w(3)]);
    // W01 of the final image shares its manifest with `latest`.
    assert_eq!(reg.tags("ci/bud"), [w(1), w(3), "latest".to_owned()]);
    for foreign in ["ci/budfoo-base", "ci/other-base", "elsewhere/bud-base"] {
        assert_eq!(reg.tags(foreign), [w(1)], "{foreign} untouched");
    }
    let log = reg.log();
    let head = log.iter().find(|l| l.starts_with("HEAD")).expect("a HEAD");
    for accept in MANIFEST_TYPES {
        assert!(head.contains(accept), "{head}");
    }
    // A second prune deletes nothing.
    let before = log.len();
    let again = prune(&reg, Some(CREDS), false).expect("again");
    assert!(again.repositories.iter().all(|r| r.deleted.is_empty()));
    assert!(!reg.log()[before..].iter().any(|l| l.starts_with("DELETE")));
}

#[test]
fn a_bearer_registry_gets_a_token_for_the_engines_credentials() {
    let reg = fleet(Auth::Bearer, true);
    let out = prune(&reg, Some(CREDS), false).unwrap_or_else(|e| panic!("{e}: {:#?}", reg.log()));
    assert_eq!(out.listed, Listed::Catalog);
    assert_eq!(reg.tags("ci/bud-base"), [w(3)]);
    let log = reg.log();
    assert!(
        log.iter().any(|l| l
            .starts_with("GET /token?service=stand-in&scope=repository%3Aci%2Fbud-base%3Adelete")),
        "{log:#?}"
    );
    assert!(log
        .iter()
        .any(|l| l.starts_with("DELETE") && l.contains("[Bearer good-token]")));
    // Without credentials: one clear error saying how to log in.
    let reg = fleet(Auth::Bearer, true);
    let e = prune(&reg, None, false).expect_err("refused");
    assert!(matches!(e, ApiError::Unauthorized { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&format!(
            "docker login {}",
            reg.url.trim_start_matches("http://")
        )),
        "{e}"
    );
}

#[test]
fn basic_without_credentials_is_refused() {
    let reg = fleet(Auth::Basic, true);
    let e = prune(&reg, None, false).expect_err("refused");
    assert!(matches!(e, ApiError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("docker login"), "{e}");
    assert!(reg.tags("ci/bud-base").len() == 3);
}

#[test]
fn without_a_catalog_the_given_repositories_are_asked() {
    let (w1, w3) = (w(1), w(3));
    let reg = StandIn::serve(
        Auth::Open,
        true,
        false,
        &[
            ("ci/bud-base", &[(&w1, "sha256:b1"), (&w3, "sha256:b3")]),
            ("ci/bud-x", &[(&w1, "sha256:x1")]),
        ],
    );
    let out = prune_registry(&api(&reg, None), "ci", "bud", &retention(), false, || {
        vec!["bud-base".to_owned(), "bud".to_owned()]
    })
    .expect("prune");
    assert!(
        matches!(&out.listed, Listed::Derived(why) if why.contains("404")),
        "{:?}",
        out.listed
    );
    assert_eq!(reg.tags("ci/bud-base"), [w(3)]);
    assert_eq!(
        reg.tags("ci/bud-x"),
        [w(1)],
        "not among the names asked for"
    );
}

#[test]
fn a_registry_that_refuses_deletes_is_one_error_naming_the_setting() {
    let reg = fleet(Auth::Open, false);
    let e = prune(&reg, None, false).expect_err("refused");
    let said = e.to_string();
    assert!(matches!(e, ApiError::DeletesDisabled { .. }), "{e:?}");
    assert!(said.contains("storage: delete: enabled: true"), "{said}");
    assert!(said.contains("UNSUPPORTED"), "{said}");
    let deletes = reg.log().iter().filter(|l| l.starts_with("DELETE")).count();
    assert_eq!(deletes, 1, "stopped at the first refusal");
}

#[test]
fn no_credential_is_in_curls_argv() {
    use std::os::unix::fs::PermissionsExt;
    let reg = fleet(Auth::Basic, true);
    let dir = tempfile::tempdir().expect("tempdir");
    let argv = dir.path().join("argv");
    let curl = dir.path().join("curl");
    std::fs::write(
        &curl,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\nexec curl \"$@\"\n",
            argv.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&curl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut api = api(&reg, Some(CREDS));
    api.curl = curl;
    prune_registry(&api, "ci", "bud", &retention(), false, Vec::new).expect("prune");
    let argv = std::fs::read_to_string(&argv).expect("argv");
    assert!(!argv.is_empty());
    assert!(
        argv.lines().all(|a| ["-q", "-K", "-"].contains(&a)),
        "{argv}"
    );
    assert!(
        reg.log().iter().any(|l| l.contains(CREDS)),
        "the credential did reach the registry"
    );
}

#[test]
fn a_curl_that_cannot_start_names_the_request_and_the_command() {
    let mut api = Api::at("http://127.0.0.1:9", None, Duration::from_secs(5));
    api.curl = PathBuf::from("/nonexistent/curl");
    let e = api.catalog().expect_err("no curl");
    assert!(matches!(e, ApiError::Process { .. }), "{e:?}");
    let said = e.to_string();
    assert!(
        said.starts_with("GET http://127.0.0.1:9/v2/_catalog")
            && said.contains(": could not start `/nonexistent/curl -q -K -`: "),
        "{said}"
    );
}
