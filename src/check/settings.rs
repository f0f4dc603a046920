//! The run's settings, checked: every value of a variable or flag that
//! reaches a template or the engine (image names and references by
//! Docker's grammar, URLs, plain values).

use crate::model::settings::Settings;

/// Every value of the run that reaches a template or the engine, checked as
/// base.toml's are: each problem names its variable and flag.
pub fn check(s: &Settings) -> Result<(), Vec<String>> {
    use crate::check::shell;
    let mut problems = Vec::new();
    let mut one = |what: &str, value: Option<&str>, rule: fn(&str) -> Result<(), String>| {
        if let Some(value) = value {
            if let Err(why) = rule(value) {
                problems.push(format!("{what} {value:?} {why}"));
            }
        }
    };
    one(
        "DOCKER_IMAGE_NAME (--image-name)",
        Some(&s.image_name),
        shell::check_image_name,
    );
    one(
        "DISTRO (--distro)",
        s.distro.as_deref(),
        shell::check_image_ref,
    );
    one(
        "--base-image",
        s.base_image.as_deref(),
        shell::check_image_ref,
    );
    one(
        "DOCKER_REG (--docker-reg)",
        s.docker_reg.as_deref(),
        shell::check_registry,
    );
    one(
        "UBUNTU_MIRROR (--ubuntu-mirror)",
        s.ubuntu_mirror.as_deref(),
        shell::check_http_url,
    );
    one(
        "http_proxy (--http-proxy)",
        s.http_proxy.as_deref(),
        shell::check_plain,
    );
    one(
        "https_proxy (--https-proxy)",
        s.https_proxy.as_deref(),
        shell::check_plain,
    );
    one("USER (--user)", Some(&s.user.name), shell::check_plain);
    one("HOME (--home)", Some(&s.user.home), shell::check_plain);
    one(
        "BUILD_UNIT_TEST_GERRIT_URL (--gerrit-url)",
        s.gerrit_topic.as_ref().map(|_| s.gerrit_url.as_str()),
        shell::check_http_url,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
