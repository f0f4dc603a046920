//! A registry's HTTP API (the OCI distribution API that Docker
//! Distribution, Harbor, GHCR and others serve), through the `curl` on
//! PATH: what `prune --cache-registry` lists and deletes.
//!
//! Owns: the requests (`/v2/_catalog` and `tags/list`, following their
//! `Link` pages; HEAD of a manifest with the Accept headers of Docker v2
//! and OCI manifests and lists, for its `Docker-Content-Digest`; DELETE of
//! a manifest by digest) and the auth a registry asks for in its
//! `WWW-Authenticate` answer (Basic, or a Bearer token from its realm).
//! Every request is one curl through `crate::process` (`--max-time`,
//! stopped on SIGINT/SIGTERM); its URL, headers and credentials go on
//! curl's stdin (`-K -`), never in its argv. Plain http for a loopback
//! registry (as the engines allow), https otherwise. Beside it: the answer
//! and challenge parsers (`http.rs`), the engine's credentials
//! (`credentials.rs`) and the walk that prunes (`prune.rs`).
//!
//! Must not: decide which tags go (that is `crate::plan::prune`), print,
//! or delete anything in a dry run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::process::{self, ProcessError};

mod credentials;
mod http;
mod prune;
#[cfg(test)]
mod tests;

pub use credentials::credentials;
pub use http::is_loopback;
use http::{encode, parse_challenge, parse_response, Challenge, Response};
pub use prune::{prune_registry, Listed, RegistryOutcome};

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
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// curl could not ask (no connection, an answer that is not HTTP).
    #[error("{0}")]
    Transport(String),
    /// curl did not run to its end (no curl, past its deadline): `what`
    /// is the request, which is on curl's stdin, not in its command.
    #[error("{what}: {error}")]
    Process { what: String, error: ProcessError },
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
        .map_err(|error| {
            if error.is_cancelled() {
                ApiError::Cancelled
            } else {
                ApiError::Process {
                    what: what.clone(),
                    error,
                }
            }
        })?;
        if !out.status.success() {
            return Err(ApiError::Transport(format!(
                "{what}: `{}` failed ({}): {}",
                out.command,
                out.status,
                // Made printable where it is read, as every child's text.
                crate::printable::printable(&out.stderr).trim()
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

/// A value for curl's config file: in double quotes, `\` and `"` escaped.
/// Newlines never reach it (headers and URLs are single lines).
fn quoted(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}
