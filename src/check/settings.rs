//! The run's settings, checked: every value of a variable or flag that
//! reaches a template or the engine (image names and references by
//! Docker's grammar, URLs, plain values).

use crate::model::settings::Settings;

/// Every value of the run that reaches a template or the engine, checked as
/// base.toml's are: each problem names its variable and flag.
pub fn check(s: &Settings) -> Result<(), Vec<String>> {
    use crate::check::shell::{
        check_http_url, check_image_name, check_image_ref, check_plain, check_registry,
    };
    type Rule = fn(&str) -> Result<(), String>;
    // (variable and flag, value if set, rule)
    let values: [(&str, Option<&str>, Rule); 10] = [
        (
            "DOCKER_IMAGE_NAME (--image-name)",
            Some(&s.image_name),
            check_image_name,
        ),
        ("DISTRO (--distro)", s.distro.as_deref(), check_image_ref),
        ("--base-image", s.base_image.as_deref(), check_image_ref),
        (
            "DOCKER_REG (--docker-reg)",
            s.docker_reg.as_deref(),
            check_registry,
        ),
        (
            "UBUNTU_MIRROR (--ubuntu-mirror)",
            s.ubuntu_mirror.as_deref(),
            check_http_url,
        ),
        (
            "http_proxy (--http-proxy)",
            s.http_proxy.as_deref(),
            check_plain,
        ),
        (
            "https_proxy (--https-proxy)",
            s.https_proxy.as_deref(),
            check_plain,
        ),
        ("USER (--user)", Some(&s.user.name), check_plain),
        ("HOME (--home)", Some(&s.user.home), check_plain),
        (
            "BUILD_UNIT_TEST_GERRIT_URL (--gerrit-url)",
            s.gerrit_topic.as_ref().map(|_| s.gerrit_url.as_str()),
            check_http_url,
        ),
    ];
    let problems: Vec<String> = values
        .into_iter()
        .filter_map(|(what, value, rule)| {
            let value = value?;
            rule(value)
                .err()
                .map(|why| format!("{what} {value:?} {why}"))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
