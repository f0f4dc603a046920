//! A registry's HTTP API (the OCI distribution API that Docker
//! Distribution, Harbor, GHCR and others serve), through the `curl` on
//! PATH: what `prune --cache-registry` lists and deletes.
//!
//! Owns: the requests (`/v2/_catalog` and `tags/list`, following their
//! `Link` pages; HEAD of a manifest with the Accept headers of Docker v2
//! and OCI manifests and lists, for its `Docker-Content-Digest`; DELETE of
//! a manifest by digest), the auth a registry asks for in its
//! `WWW-Authenticate` answer (Basic, or a Bearer token from its realm),
//! the engine's own credentials (docker's `config.json` `auths`, its
//! credential helpers, podman's `auth.json`), and [`prune_registry`],
//! which lists, asks the rule and deletes. Every request is one curl
//! through `crate::process` (`--max-time`, stopped on SIGINT/SIGTERM); its
//! URL, headers and credentials go on curl's stdin (`-K -`), never in its
//! argv. Plain http for a loopback registry (as the engines allow),
//! https otherwise. Must not: decide which tags go (that is
//! `crate::plan::prune`), print, or delete anything in a dry run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::plan::prune::{self, Deletion, RemoteTag, Retention, Shared};
use crate::process::{self, ProcessError};

/// The most of one answer read (a page of a catalog or of tags).
const ANSWER_LIMIT: usize = 16 * 1024 * 1024;
/// The key under which a registry's Basic auth is kept for every request.
const BASIC: &str = "*basic*";
/// Entries asked for per page.
const PAGE: usize = 1000;

/// What a manifest HEAD accepts: Docker v2 and OCI manifests and lists.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// Why the registry gave no answer, or refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// curl could not ask (no connection, a timeout, no curl).
    #[error("{0}")]
    Transport(String),
    /// The registry answered with an unexpected status.
    #[error("{what}: the registry answered HTTP {status}{detail}")]
    Status {
        what: String,
        status: u16,
        detail: String,
    },
    /// It wants credentials this machine's engine does not have for it.
    #[error(
        "{what}: the registry refused the credentials (HTTP {status}){detail}; log in with \
         `docker login {host}` (or `podman login {host}`) as a user that may list and delete"
    )]
    Unauthorized {
        what: String,
        status: u16,
        host: String,
        detail: String,
    },
    /// DELETE is refused: the registry does not delete manifests.
    #[error(
        "the registry {host} refuses to delete manifests ({what}: HTTP 405{detail}): Docker \
         Distribution deletes only with `storage: delete: enabled: true` in its config.yml \
         (REGISTRY_STORAGE_DELETE_ENABLED=true); enable it, restart the registry and run \
         prune again (nothing was deleted)"
    )]
    DeletesDisabled {
        host: String,
        what: String,
        detail: String,
    },
    /// SIGINT or SIGTERM.
    #[error("interrupted")]
    Cancelled,
}

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The registry's own words (its `errors` JSON, or the body's start),
    /// as `: …` for a message.
    fn detail(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let said = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                let errors = v.get("errors")?.as_array()?;
                Some(
                    errors
                        .iter()
                        .map(|e| {
                            format!(
                                "{} {}",
                                e.get("code").and_then(|c| c.as_str()).unwrap_or_default(),
                                e.get("message")
                                    .and_then(|c| c.as_str())
                                    .unwrap_or_default()
                            )
                            .trim()
                            .to_owned()
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .unwrap_or_else(|| text.trim().chars().take(200).collect());
        if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        }
    }
}

/// curl's `-i` output: the status, headers and body of the last answer
/// (1xx answers and a proxy's CONNECT answer are skipped).
pub fn parse_response(raw: &[u8]) -> Option<Response> {
    let mut rest = raw;
    loop {
        let end = find(rest, b"\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| find(rest, b"\n\n").map(|i| (i, 2)));
        let (head, body) = match end {
            Some((i, n)) => (&rest[..i], &rest[i + n..]),
            None => (rest, &rest[rest.len()..]),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let status_line = lines.next()?;
        if !status_line.starts_with("HTTP/") {
            return None;
        }
        let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect();
        // A 1xx answer, or a proxy's answer to CONNECT, comes before the
        // registry's own.
        let reason = status_line.splitn(3, ' ').nth(2).unwrap_or_default();
        let preface = status < 200 || reason.eq_ignore_ascii_case("connection established");
        if preface && body.starts_with(b"HTTP/") {
            rest = body;
            continue;
        }
        return Some(Response {
            status,
            headers,
            body: body.to_vec(),
        });
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A `WWW-Authenticate` challenge: its scheme (lower case) and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// `Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"`.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, c)) = chars.next() {
                            val.push(c);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.insert(key, val);
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// Percent-encoding of a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 with padding (for `user:password`).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A value for curl's config file: in double quotes, `\` and `"` escaped.
/// Newlines never reach it (headers and URLs are single lines).
fn quoted(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Whether `host` (with an optional port) is this machine.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    name == "localhost" || name.starts_with("127.") || name == "::1"
}

/// The engine's credentials for `host`, from the first of `files` (docker
/// config.json or podman auth.json) with an entry for it: a `user:pass`
/// in base64. A config that names a credential helper for it
/// (`credHelpers`, `credsStore`) is asked through `docker-credential-NAME get`.
pub fn credentials(
    host: &str,
    files: &[PathBuf],
    timeout: Duration,
) -> Result<Option<String>, String> {
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
        if let Some(auths) = config.get("auths").and_then(|a| a.as_object()) {
            for (key, entry) in auths {
                if auth_key_host(key) != host {
                    continue;
                }
                if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
                    if !auth.is_empty() {
                        return Ok(Some(auth.to_owned()));
                    }
                }
                let user = entry.get("username").and_then(|a| a.as_str());
                let pass = entry.get("password").and_then(|a| a.as_str());
                if let (Some(u), Some(p)) = (user, pass) {
                    return Ok(Some(base64(format!("{u}:{p}").as_bytes())));
                }
            }
        }
        let helper = config
            .get("credHelpers")
            .and_then(|h| h.get(host))
            .or_else(|| config.get("credsStore"))
            .and_then(|h| h.as_str());
        if let Some(helper) = helper.filter(|h| !h.is_empty()) {
            return helper_credentials(helper, host, timeout, file);
        }
    }
    Ok(None)
}

/// `https://host/v1/` or `host` (as config.json keys are written) → host.
fn auth_key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or_default()
}

/// Asks `docker-credential-<helper> get` for `host` (on its stdin).
fn helper_credentials(
    helper: &str,
    host: &str,
    timeout: Duration,
    file: &Path,
) -> Result<Option<String>, String> {
    if !helper
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "{} names the credential helper {helper:?}, which is not a program name",
            file.display()
        ));
    }
    let program = format!("docker-credential-{helper}");
    let mut cmd = process::command(&program);
    cmd.arg("get");
    let out = process::run_fed(cmd, format!("{host}\n").into_bytes(), timeout, 1024 * 1024)
        .map_err(|e| {
            format!(
                "`{program} get` for {host} (named by {}): {e}",
                file.display()
            )
        })?;
    if !out.status.success() {
        // "credentials not found in native keychain": none for this host.
        return Ok(None);
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`{program} get` answered something that is not JSON: {e}"))?;
    let user = answer.get("Username").and_then(|v| v.as_str());
    let secret = answer.get("Secret").and_then(|v| v.as_str());
    Ok(match (user, secret) {
        (Some(u), Some(s)) if !s.is_empty() => Some(base64(format!("{u}:{s}").as_bytes())),
        _ => None,
    })
}

/// A registry, as `prune` talks to it.
pub trait RegistryApi {
    /// Every repository the registry lists (`/v2/_catalog`, all pages).
    fn catalog(&self) -> Result<Vec<String>, ApiError>;
    /// The tags of one repository (all pages); none when it is gone.
    fn tags(&self, repository: &str) -> Result<Vec<String>, ApiError>;
    /// The digest of a tag's manifest; None when the tag is gone.
    fn digest(&self, repository: &str, tag: &str) -> Result<Option<String>, ApiError>;
    /// Deletes a manifest (and with it every tag on it); false when it
    /// was gone already.
    fn delete(&self, repository: &str, digest: &str) -> Result<bool, ApiError>;
    /// Whether it is asked with credentials.
    fn has_credentials(&self) -> bool;
}

/// The real registry, through curl.
pub struct Api {
    /// `http://127.0.0.1:5000` or `https://reg.example`.
    base: String,
    host: String,
    /// `user:pass` in base64.
    basic: Option<String>,
    timeout: Duration,
    curl: PathBuf,
    /// Authorization values learned from challenges, by what they were for.
    auth: Mutex<HashMap<String, String>>,
}

impl Api {
    /// The registry at `host` (`host[:port]`), with these credentials.
    pub fn new(host: &str, basic: Option<String>, timeout: Duration) -> Api {
        let scheme = if is_loopback(host) { "http" } else { "https" };
        Api {
            base: format!("{scheme}://{host}"),
            host: host.to_owned(),
            basic,
            timeout,
            curl: PathBuf::from("curl"),
            auth: Mutex::new(HashMap::new()),
        }
    }

    /// The same registry served at `base` (a test's stand-in).
    #[cfg(test)]
    pub fn at(base: &str, basic: Option<String>, timeout: Duration) -> Api {
        let host = base
            .split("://")
            .nth(1)
            .unwrap_or(base)
            .trim_end_matches('/')
            .to_owned();
        Api {
            base: base.trim_end_matches('/').to_owned(),
            host,
            basic,
            timeout,
            curl: PathBuf::from("curl"),
            auth: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One request with curl: `url` absolute, `headers` whole lines.
    fn curl(&self, method: &str, url: &str, headers: &[String]) -> Result<Response, ApiError> {
        let secs = self.timeout.as_secs().max(1);
        let mut config = format!(
            "silent\nshow-error\nproto = \"=http,https\"\nmax-time = {secs}\nconnect-timeout = {secs}\nurl = {}\n",
            quoted(url)
        );
        match method {
            "HEAD" => config.push_str("head\n"),
            "GET" => config.push_str("include\n"),
            other => config.push_str(&format!("include\nrequest = {}\n", quoted(other))),
        }
        for h in headers {
            config.push_str(&format!("header = {}\n", quoted(h)));
        }
        let mut cmd = process::command(&self.curl);
        cmd.args(["-q", "-K", "-"]);
        let what = format!("{method} {}", strip_query_secrets(url));
        let out = process::run_fed(
            cmd,
            config.into_bytes(),
            self.timeout + Duration::from_secs(2),
            ANSWER_LIMIT,
        )
        .map_err(|e| match e {
            ProcessError::Cancelled => ApiError::Cancelled,
            e => ApiError::Transport(format!("{what}: curl: {e}")),
        })?;
        if !out.status.success() {
            return Err(ApiError::Transport(format!(
                "{what}: curl failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        if out.stdout_truncated {
            return Err(ApiError::Transport(format!(
                "{what}: the answer is larger than 16 MiB"
            )));
        }
        parse_response(&out.stdout)
            .ok_or_else(|| ApiError::Transport(format!("{what}: the answer is not HTTP")))
    }

    /// A request to `path` (from `/v2/`), with the auth the registry asks
    /// for: the first 401 is answered (Basic, or a Bearer token for the
    /// challenge's scope) and the request made again once. `key` names
    /// what the auth is for (one per repository and kind of access).
    fn request(
        &self,
        method: &str,
        path: &str,
        accept: &[&str],
        key: &str,
    ) -> Result<Response, ApiError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut headers: Vec<String> = accept.iter().map(|a| format!("Accept: {a}")).collect();
        // A registry that asked for Basic once gets it on every request.
        let known = {
            let auth = self.lock();
            auth.get(key).or_else(|| auth.get(BASIC)).cloned()
        };
        let with = |auth: &Option<String>| {
            let mut h = headers.clone();
            if let Some(a) = auth {
                h.push(format!("Authorization: {a}"));
            }
            h
        };
        let response = self.curl(method, &url, &with(&known))?;
        if response.status != 401 {
            return Ok(response);
        }
        let what = format!("{method} {path}");
        let challenge = response
            .header("www-authenticate")
            .and_then(parse_challenge)
            .ok_or_else(|| self.unauthorized(&what, &response))?;
        let auth = match challenge.scheme.as_str() {
            "basic" => match &self.basic {
                Some(b) => format!("Basic {b}"),
                None => return Err(self.unauthorized(&what, &response)),
            },
            "bearer" => format!("Bearer {}", self.token(&challenge, &what)?),
            _ => return Err(self.unauthorized(&what, &response)),
        };
        if known.as_deref() == Some(auth.as_str()) && challenge.scheme == "basic" {
            return Err(self.unauthorized(&what, &response));
        }
        let under = if challenge.scheme == "basic" {
            BASIC
        } else {
            key
        };
        self.lock().insert(under.to_owned(), auth.clone());
        headers = with(&Some(auth));
        let again = self.curl(method, &url, &headers)?;
        if again.status == 401 || again.status == 403 {
            return Err(self.unauthorized(&what, &again));
        }
        Ok(again)
    }

    fn unauthorized(&self, what: &str, r: &Response) -> ApiError {
        ApiError::Unauthorized {
            what: what.to_owned(),
            status: r.status,
            host: self.host.clone(),
            detail: r.detail(),
        }
    }

    /// A Bearer token from the challenge's realm, with the credentials.
    fn token(&self, challenge: &Challenge, what: &str) -> Result<String, ApiError> {
        let realm = challenge
            .params
            .get("realm")
            .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
            .ok_or_else(|| {
                ApiError::Transport(format!(
                    "{what}: the registry's token realm is not an http(s) URL"
                ))
            })?;
        let mut query = Vec::new();
        for key in ["service", "scope"] {
            if let Some(v) = challenge.params.get(key) {
                query.push(format!("{key}={}", encode(v)));
            }
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        let headers: Vec<String> = self
            .basic
            .iter()
            .map(|b| format!("Authorization: Basic {b}"))
            .collect();
        let answer = self.curl("GET", &url, &headers)?;
        if answer.status != 200 {
            return Err(ApiError::Unauthorized {
                what: format!("{what} (token from {realm})"),
                status: answer.status,
                host: self.host.clone(),
                detail: answer.detail(),
            });
        }
        let json: serde_json::Value = serde_json::from_slice(&answer.body).map_err(|e| {
            ApiError::Transport(format!(
                "{what}: the token answer from {realm} is not JSON: {e}"
            ))
        })?;
        json.get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Transport(format!("{what}: {realm} gave no token")))
    }

    /// Every page of a listing: `field` of each page's JSON.
    fn pages(&self, first: &str, field: &str, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(path) = next.take() {
            let r = self.request("GET", &path, &["application/json"], key)?;
            if r.status == 404 {
                return Ok(None);
            }
            if r.status != 200 {
                return Err(ApiError::Status {
                    what: format!("GET {path}"),
                    status: r.status,
                    detail: r.detail(),
                });
            }
            let json: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| {
                ApiError::Transport(format!("GET {path}: the answer is not JSON: {e}"))
            })?;
            if let Some(items) = json.get(field).and_then(|v| v.as_array()) {
                out.extend(items.iter().filter_map(|v| v.as_str()).map(str::to_owned));
            }
            next = r.header("link").and_then(next_link);
            if next.as_deref() == Some(path.as_str()) {
                break;
            }
        }
        Ok(Some(out))
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// A URL for messages: without its query (a token realm's may say who).
fn strip_query_secrets(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

impl RegistryApi for Api {
    fn has_credentials(&self) -> bool {
        self.basic.is_some()
    }

    fn catalog(&self) -> Result<Vec<String>, ApiError> {
        match self.pages(&format!("/v2/_catalog?n={PAGE}"), "repositories", "catalog")? {
            Some(repos) => Ok(repos),
            None => Err(ApiError::Status {
                what: "GET /v2/_catalog".to_owned(),
                status: 404,
                detail: String::new(),
            }),
        }
    }

    fn tags(&self, repository: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .pages(
                &format!("/v2/{repository}/tags/list?n={PAGE}"),
                "tags",
                &format!("pull {repository}"),
            )?
            .unwrap_or_default())
    }

    fn digest(&self, repository: &str, tag: &str) -> Result<Option<String>, ApiError> {
        let path = format!("/v2/{repository}/manifests/{tag}");
        let r = self.request("HEAD", &path, MANIFEST_TYPES, &format!("pull {repository}"))?;
        match r.status {
            200 => r
                .header("docker-content-digest")
                .map(|d| Some(d.to_owned()))
                .ok_or_else(|| {
                    ApiError::Transport(format!(
                        "HEAD {path}: the registry gave no Docker-Content-Digest; without it no \
                     manifest can be deleted safely"
                    ))
                }),
            404 => Ok(None),
            status => Err(ApiError::Status {
                what: format!("HEAD {path}"),
                status,
                detail: r.detail(),
            }),
        }
    }

    fn delete(&self, repository: &str, digest: &str) -> Result<bool, ApiError> {
        let path = format!("/v2/{repository}/manifests/{digest}");
        let r = self.request("DELETE", &path, &[], &format!("delete {repository}"))?;
        match r.status {
            200 | 202 | 204 => Ok(true),
            404 => Ok(false),
            405 => Err(ApiError::DeletesDisabled {
                host: self.host.clone(),
                what: format!("DELETE {path}"),
                detail: r.detail(),
            }),
            status => Err(ApiError::Status {
                what: format!("DELETE {path}"),
                status,
                detail: r.detail(),
            }),
        }
    }
}

/// How the repositories to prune were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// The registry's catalog, filtered by the prefix.
    Catalog,
    /// The catalog could not be read (why); these names were asked for.
    Derived(String),
}

/// One repository's plan, with its name in the registry.
#[derive(Debug, Clone)]
pub struct RepositoryOutcome {
    pub repository: String,
    pub deleted: Vec<Deletion>,
    pub shared: Vec<Shared>,
    /// Deletions that found the manifest gone already.
    pub gone: Vec<Deletion>,
    pub kept: usize,
}

/// What a registry prune did (or would do).
#[derive(Debug)]
pub struct RegistryOutcome {
    pub listed: Listed,
    pub repositories: Vec<RepositoryOutcome>,
}

/// Lists the repositories of `image` under `path` (REF's path, may be
/// empty) and prunes each: tags read, the old ones' digests deleted unless
/// a tag that stays shares them. `derived` gives the repository names
/// (under `path`, as the engine names them here) to ask for when the
/// catalog cannot be read. Stops at the first failure.
pub fn prune_registry(
    api: &dyn RegistryApi,
    path: &str,
    image: &str,
    retention: &Retention,
    dry_run: bool,
    derived: impl FnOnce() -> Vec<String>,
) -> Result<RegistryOutcome, ApiError> {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let derive = || -> Vec<String> {
        derived()
            .into_iter()
            .map(|local| format!("{prefix}{local}"))
            .collect()
    };
    let (names, listed) = match api.catalog() {
        Ok(all) => (
            all.into_iter()
                .filter(|r| {
                    r.strip_prefix(&prefix)
                        .is_some_and(|local| prune::our_repository(image, local).is_some())
                })
                .collect::<Vec<_>>(),
            Listed::Catalog,
        ),
        // A registry that keeps its catalog to itself (or to admins) is
        // asked for the repositories by name; one that wants credentials
        // nobody gave is an error.
        Err(
            e @ ApiError::Status {
                status: 403..=405, ..
            },
        ) => (derive(), Listed::Derived(e.to_string())),
        Err(e @ ApiError::Unauthorized { .. }) if api.has_credentials() => {
            (derive(), Listed::Derived(e.to_string()))
        }
        Err(e) => return Err(e),
    };
    let mut names = names;
    names.sort();
    names.dedup();
    let mut repositories = Vec::new();
    for repository in names {
        let under = repository.strip_prefix(&prefix).unwrap_or(&repository);
        let local = prune::our_repository(image, under)
            .unwrap_or(under)
            .to_owned();
        let tags = api.tags(&repository)?;
        let any_old = tags.iter().any(|t| {
            matches!(
                prune::verdict(image, retention, &format!("{local}:{t}")),
                prune::Verdict::Old(_)
            )
        });
        let mut outcome = RepositoryOutcome {
            repository: repository.clone(),
            deleted: Vec::new(),
            shared: Vec::new(),
            gone: Vec::new(),
            kept: 0,
        };
        if !any_old {
            outcome.kept = tags
                .iter()
                .filter(|t| {
                    prune::verdict(image, retention, &format!("{local}:{t}"))
                        == prune::Verdict::Kept
                })
                .count();
            repositories.push(outcome);
            continue;
        }
        // Every tag's digest: a tag in another format may share one too.
        let mut remote = Vec::new();
        for tag in &tags {
            if let Some(digest) = api.digest(&repository, tag)? {
                remote.push(RemoteTag {
                    tag: tag.clone(),
                    digest,
                });
            }
        }
        let plan = prune::plan_repository(image, retention, &local, &remote);
        outcome.kept = plan.kept;
        outcome.shared = plan.shared;
        for deletion in plan.delete {
            if dry_run {
                outcome.deleted.push(deletion);
                continue;
            }
            if process::interrupted().is_cancelled() {
                return Err(ApiError::Cancelled);
            }
            if api.delete(&repository, &deletion.digest)? {
                outcome.deleted.push(deletion);
            } else {
                outcome.gone.push(deletion);
            }
        }
        repositories.push(outcome);
    }
    Ok(RegistryOutcome {
        listed,
        repositories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:5000")
        );
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
            let (srv, state, record, base) =
                (server.clone(), repos.clone(), log.clone(), url.clone());
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

    fn prune(
        reg: &StandIn,
        basic: Option<&str>,
        dry_run: bool,
    ) -> Result<RegistryOutcome, ApiError> {
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
        let out =
            prune(&reg, Some(CREDS), false).unwrap_or_else(|e| panic!("{e}: {:#?}", reg.log()));
        assert_eq!(out.listed, Listed::Catalog);
        assert_eq!(reg.tags("ci/bud-base"), [w(3)]);
        let log = reg.log();
        assert!(
            log.iter().any(|l| l.starts_with(
                "GET /token?service=stand-in&scope=repository%3Aci%2Fbud-base%3Adelete"
            )),
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
}
