//! What to change on the host when the engine fails because of how the
//! host is set up: one table of the engine's own words and the setting or
//! flag that fixes each (crun and hybrid cgroups, rlimits, the daemon's
//! socket, subordinate ids, XDG_RUNTIME_DIR).
//!
//! Owns: [`HINTS`], the one place these patterns live, and [`host_hint`],
//! which reads engine output for them. Must not: run anything, print, or
//! guess: text that matches no entry gets no hint.

/// One known host-setup failure.
#[derive(Debug)]
pub struct Hint {
    /// Matches when every string of any one group occurs in the text
    /// (ASCII case ignored); the strings are lower case.
    pub any_of: &'static [&'static [&'static str]],
    /// The one line to print: the cause, then what to change.
    pub advice: &'static str,
}

/// Every known host-setup failure, the first match wins.
pub const HINTS: &[Hint] = &[
    Hint {
        any_of: &[&["cgroups in hybrid mode not supported"]],
        advice: "crun refuses this host's hybrid cgroups (v1 controllers beside a v2 mount): \
                 set `runtime = \"runc\"` under `[engine]` in containers.conf (or point \
                 CONTAINERS_CONF at a file saying so), or boot with \
                 systemd.unified_cgroup_hierarchy=1",
    },
    Hint {
        any_of: &[
            &["error setting rlimit"],
            &["setrlimit", "operation not permitted"],
        ],
        advice: "the engine asks for resource limits above this host's hard limits: set \
                 `default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]` under \
                 `[containers]` in containers.conf, or raise the hard limits (`ulimit -H`, \
                 /etc/security/limits.conf)",
    },
    Hint {
        any_of: &[
            &["permission denied while trying to connect to the docker daemon socket"],
            &["permission denied while trying to connect to the docker api"],
        ],
        advice: "this user may not use the Docker daemon's socket: add it to the `docker` \
                 group (`usermod -aG docker $USER`, then log in again), or run rootless \
                 podman (`--engine podman`)",
    },
    Hint {
        any_of: &[&["cannot connect to the docker daemon"]],
        advice: "no Docker daemon answers: start it (`systemctl start docker`, or `dockerd`; \
                 scripts/docker-up.sh in this checkout), or set DOCKER_HOST to one that runs",
    },
    Hint {
        any_of: &[
            &["no subuid ranges found"],
            &["no subgid ranges found"],
            &["newuidmap"],
            &["newgidmap"],
            &["insufficient uids or gids available in user namespace"],
        ],
        advice: "rootless podman needs subordinate ids: add `USER:100000:65536` lines for this \
                 user to /etc/subuid and /etc/subgid (`usermod --add-subuids 100000-165535 \
                 --add-subgids 100000-165535 USER`), install `uidmap` (newuidmap, newgidmap), \
                 then run `podman system migrate`",
    },
    Hint {
        any_of: &[&["xdg_runtime_dir", "not owned by the current user"]],
        advice: "rootless podman needs its own runtime folder: set XDG_RUNTIME_DIR to a \
                 directory owned by this user with mode 0700 (/run/user/$(id -u))",
    },
];

/// The advice of the first entry of [`HINTS`] that `texts` (the engine's
/// error and output lines, together) match, if any.
pub fn host_hint<'a>(texts: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let text = texts
        .into_iter()
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("\n");
    HINTS
        .iter()
        .find(|h| {
            h.any_of
                .iter()
                .any(|group| group.iter().all(|s| text.contains(s)))
        })
        .map(|h| h.advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each engine said on a host set up that way (podman 4.3, runc,
    /// crun, docker 20.10 and 28), and the words the advice must carry.
    const SEEN: &[(&str, &[&str])] = &[
        (
            "Error: OCI runtime error: crun: cgroups in hybrid mode not supported, drop all \
             controllers from cgroupv2",
            &["runtime = \"runc\"", "[engine]", "CONTAINERS_CONF", "systemd.unified_cgroup_hierarchy=1"],
        ),
        (
            "error running container: from /usr/bin/runc creating container for [/bin/sh -c \
             true]: runc create failed: unable to start container process: error during \
             container init: error setting rlimits for ready process: error setting rlimit \
             type 7: operation not permitted",
            &["default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]", "[containers]", "hard limits"],
        ),
        (
            "Error: OCI runtime error: crun: setrlimit `RLIMIT_NPROC`: Operation not permitted",
            &["default_ulimits", "[containers]"],
        ),
        (
            "Got permission denied while trying to connect to the Docker daemon socket at \
             unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.24/images/json\": \
             dial unix /var/run/docker.sock: connect: permission denied",
            &["`docker`", "group", "rootless podman"],
        ),
        (
            "permission denied while trying to connect to the docker API at \
             unix:///var/run/docker.sock",
            &["`docker`", "group"],
        ),
        (
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker \
             daemon running?",
            &["systemctl start docker", "DOCKER_HOST"],
        ),
        (
            "cannot find UID/GID for user bud: no subuid ranges found for user \"bud\" in \
             /etc/subuid - check rootless mode in man pages.",
            &["/etc/subuid", "/etc/subgid", "uidmap", "podman system migrate"],
        ),
        (
            "command required for rootless mode with multiple IDs: exec: \"newuidmap\": \
             executable file not found in $PATH",
            &["uidmap"],
        ),
        (
            "Error: writing blob: adding layer with blob \"sha256:…\": processing tar file(potentially \
             insufficient UIDs or GIDs available in user namespace (requested 0:42 for \
             /etc/shadow): Check /etc/subuid and /etc/subgid if configured locally and run \
             podman-system-migrate: lchown /etc/shadow: invalid argument): exit status 1",
            &["/etc/subuid"],
        ),
        (
            "time=\"2026-12-03T07:26:19Z\" level=error msg=\"XDG_RUNTIME_DIR directory \
             \\\"/tmp/x\\\" is not owned by the current user\"",
            &["XDG_RUNTIME_DIR", "0700"],
        ),
    ];

    #[test]
    fn each_entry_answers_what_its_engine_said() {
        for (said, words) in SEEN {
            let advice = host_hint([*said]).unwrap_or_else(|| panic!("no hint for {said:?}"));
            for w in *words {
                assert!(advice.contains(w), "{said:?}: {advice:?} lacks {w:?}");
            }
            assert!(!advice.contains('\n'), "one line: {advice:?}");
        }
    }

    #[test]
    fn every_entry_is_tested_and_reachable() {
        for (i, hint) in HINTS.iter().enumerate() {
            let first = SEEN
                .iter()
                .find(|(said, _)| host_hint([*said]) == Some(hint.advice));
            assert!(first.is_some(), "entry {i} ({:?}) has no test", hint.advice);
            for group in hint.any_of {
                assert!(
                    !group.is_empty(),
                    "entry {i}: an empty group matches anything"
                );
                for s in *group {
                    assert_eq!(
                        *s,
                        s.to_ascii_lowercase(),
                        "entry {i}: patterns are lower case"
                    );
                }
            }
        }
    }

    #[test]
    fn a_pattern_split_over_lines_and_ordinary_failures() {
        // The parts of one group may come on different lines.
        let lines = [
            "STEP 2/3: RUN make",
            "crun: setrlimit `RLIMIT_NOFILE`:",
            "Operation not permitted",
        ];
        assert!(host_hint(lines).is_some_and(|a| a.contains("default_ulimits")));
        for plain in [
            "curl: (22) The requested URL returned error: 404",
            "make: *** [Makefile:12: all] Error 2",
            "`docker build` exited with status 1",
            "permission denied",
            "",
        ] {
            assert_eq!(host_hint([plain]), None, "{plain:?}");
        }
    }
}
