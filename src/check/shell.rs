//! What may go into the generated shell line (`RUN curl … && cd … && …`).
//!
//! Owns: the character rules for names, revisions, URLs, flags, environment
//! settings and shell steps. Pure; returns a reason, never prints.

/// Characters real revisions and package names use.
fn is_ref_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '/')
}

/// Describes a character for a message.
pub fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' => "a newline".to_owned(),
        '\r' => "a carriage return".to_owned(),
        '\0' => "a NUL byte".to_owned(),
        '`' => "a backtick".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// A revision: letters, digits, `.` `_` `-` `+` `/`, not starting with `-`.
pub fn check_rev(rev: &str) -> Result<(), String> {
    if rev.is_empty() {
        return Err("is empty".to_owned());
    }
    if let Some(c) = rev.chars().find(|c| !is_ref_char(*c)) {
        return Err(format!("contains {}", describe(c)));
    }
    if rev.starts_with('-') {
        return Err("starts with `-`, which commands would take for an option".to_owned());
    }
    if rev.contains("..") {
        return Err("contains `..`".to_owned());
    }
    Ok(())
}

/// A package name: `owner/repo` or a bare name, each part of letters,
/// digits, `.` `_` `-` `+`, not starting with `-` or `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if let Some(c) = name.chars().find(|c| !is_ref_char(*c)) {
        return Err(format!("contains {}", describe(c)));
    }
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 2 {
        return Err("has more than one `/` (use `owner/repo`)".to_owned());
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err("has an empty part around `/`".to_owned());
    }
    if parts.iter().any(|p| p.starts_with(['-', '.'])) {
        return Err("has a part starting with `-` or `.`".to_owned());
    }
    Ok(())
}

/// A download URL: http(s), characters that need no quoting in a shell
/// line, and an archive the download step can unpack. Returns tar's
/// decompression flag (`z` or `j`).
pub fn check_url(url: &str) -> Result<char, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "is not an http:// or https:// URL".to_owned())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".to_owned());
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#@%+=,".contains(c);
    if let Some(c) = url.chars().find(|c| !ok(*c)) {
        return Err(format!(
            "contains {}, which would break or inject into the shell line",
            describe(c)
        ));
    }
    tar_flag(url).ok_or_else(|| {
        "is not an archive the download step can unpack (it handles .tar.gz and .tar.bz2)"
            .to_owned()
    })
}

/// tar's decompression flag for `url`, as the original chose it.
pub fn tar_flag(url: &str) -> Option<char> {
    if !url.contains(".tar.") {
        return None;
    }
    if url.ends_with(".bz2") {
        Some('j')
    } else if url.ends_with(".gz") {
        Some('z')
    } else {
        None
    }
}

/// Quotes must pair up and the text must not end in a lone backslash.
fn check_quoting(s: &str) -> Result<(), String> {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
    }
    if single {
        return Err("has an unbalanced `'`".to_owned());
    }
    if double {
        return Err("has an unbalanced `\"`".to_owned());
    }
    if escaped {
        return Err("ends with a lone `\\`".to_owned());
    }
    Ok(())
}

fn check_line(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("is empty".to_owned());
    }
    if let Some(c) = s.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!(
            "contains {}, which would end the RUN line",
            describe(c)
        ));
    }
    check_quoting(s)?;
    if unquoted(s).any(|(_, c, word_start)| c == '#' && word_start) {
        return Err(
            "has a `#` starting a word, which the shell reads as a comment: the rest of the RUN \
             line would not run"
                .to_owned(),
        );
    }
    Ok(())
}

/// Whether a shell line would not run whole: unbalanced quotes, a lone
/// trailing backslash, or a `#` that starts a comment.
pub fn cuts_the_line(s: &str) -> bool {
    check_quoting(s).is_err() || unquoted(s).any(|(_, c, word_start)| c == '#' && word_start)
}

/// The characters of `s` outside quotes and not escaped: (byte index,
/// char, whether it starts a shell word). `s` has balanced quotes.
fn unquoted(s: &str) -> impl Iterator<Item = (usize, char, bool)> + '_ {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut prev_blank = true;
    s.char_indices().filter_map(move |(i, c)| {
        let out = if escaped {
            escaped = false;
            None
        } else if single {
            single = c != '\'';
            None
        } else if c == '\\' {
            escaped = true;
            None
        } else if double {
            double = c != '"';
            None
        } else if c == '\'' {
            single = true;
            None
        } else if c == '"' {
            double = true;
            None
        } else {
            Some((i, c, prev_blank))
        };
        prev_blank = out.is_some() && (c == ' ' || c == '\t' || c == ';' || c == '&' || c == '|');
        out
    })
}

/// A shell step (build_steps, custom_post_dl, custom_post_install): one
/// line, quotes balanced. Operators are allowed: steps are shell.
pub fn check_step(s: &str) -> Result<(), String> {
    check_line(s)
}

/// A configure option: one line, quotes balanced, and nothing that would
/// start another command (`;` `&` `|` `<` `>` backticks `$(`).
pub fn check_flag(s: &str) -> Result<(), String> {
    check_line(s)?;
    if let Some(c) = s
        .chars()
        .find(|c| matches!(c, ';' | '&' | '|' | '<' | '>' | '`'))
    {
        return Err(format!(
            "contains {}, which would start another command",
            describe(c)
        ));
    }
    if s.contains("$(") {
        return Err("contains `$(`, which would run a command".to_owned());
    }
    Ok(())
}

/// An environment setting: `NAME=value`, value as for a flag.
pub fn check_env(s: &str) -> Result<(), String> {
    let (name, _) = s
        .split_once('=')
        .ok_or_else(|| "is not of the form NAME=value".to_owned())?;
    let valid_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "has `{name}` as a variable name (letters, digits and `_` only)"
        ));
    }
    check_flag(s)?;
    if unquoted(s).any(|(_, c, _)| c == ' ' || c == '\t') {
        return Err(format!(
            "has a space outside quotes, so the shell would run what follows it as the \
             command: quote the value (`{name}=\"{}\"`)",
            &s[name.len() + 1..]
        ));
    }
    Ok(())
}

/// Docker's grammar of image references (distribution/reference).
fn reference_regex(with_tag: bool) -> &'static regex::Regex {
    static NAME: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static TAGGED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let cell = if with_tag { &TAGGED } else { &NAME };
    cell.get_or_init(|| {
        let component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain = format!(r"(?:{component}(?:\.{component})*(?::[0-9]+)?)");
        let path = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
        let name = format!(r"(?:{domain}/)?{path}(?:/{path})*");
        let tail = if with_tag {
            r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?"
        } else {
            ""
        };
        regex::Regex::new(&format!("^{name}{tail}$")).expect("the reference grammar compiles")
    })
}

/// An image name the engine accepts, without a tag (`openbmc/ubuntu-unit-test`,
/// `registry:5000/team/img`): lower-case path parts.
pub fn check_image_name(s: &str) -> Result<(), String> {
    check_reference(s, false)
}

/// An image reference, maybe with a tag or digest (`ubuntu:resolute`).
pub fn check_image_ref(s: &str) -> Result<(), String> {
    check_reference(s, true)
}

fn check_reference(s: &str, with_tag: bool) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("contains {}", describe(c)));
    }
    if s.len() > 255 {
        return Err("is longer than the 255 characters an image name may have".to_owned());
    }
    // As Docker reads it, a first part is a registry host only when it has a
    // `.` or `:` or is localhost; else it is a path part, in lower case.
    let first = match s.split_once('/') {
        Some((first, _)) => first,
        None => s.split([':', '@']).next().unwrap_or_default(),
    };
    let host_like = s.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let lower_path = host_like || !first.chars().any(|c| c.is_ascii_uppercase());
    if !lower_path || !reference_regex(with_tag).is_match(s) {
        return Err(format!(
            "is not a valid image {}: lower-case letters, digits and `.` `_` `-` between `/`, \
             after an optional registry host{}",
            if with_tag { "reference" } else { "name" },
            if with_tag {
                ", and an optional :tag"
            } else {
                " (no tag)"
            }
        ));
    }
    Ok(())
}

/// A registry with an optional path (`public.ecr.aws/ubuntu`, `docker.io`,
/// `127.0.0.1:5000/mirror`).
pub fn check_registry(s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("contains {}", describe(c)));
    }
    let (host, path) = s.split_once('/').unwrap_or((s, ""));
    let probe = if path.is_empty() {
        format!("{host}/x")
    } else {
        format!("{host}/{path}")
    };
    if host.is_empty() || !reference_regex(false).is_match(&probe) {
        return Err(
            "is not a registry: a host name (with an optional :port), then optional \
             lower-case path parts"
                .to_owned(),
        );
    }
    Ok(())
}

/// An http(s) URL that needs no quoting in a shell line (an apt mirror, a
/// server).
pub fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "is not an http:// or https:// URL".to_owned())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".to_owned());
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "-._~:/?@%+=,".contains(c);
    if let Some(c) = url.chars().find(|c| !ok(*c)) {
        return Err(format!(
            "contains {}, which would break or inject into the Dockerfile",
            describe(c)
        ));
    }
    Ok(())
}

/// A value from the environment or base.toml put into a stage (user name,
/// home directory, proxy, a pin): no quotes, no shell operators, no `#`
/// (a comment), one line.
pub fn check_plain(s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                '\'' | '"' | '`' | '$' | ';' | '&' | '|' | '<' | '>' | '\\' | ' ' | '#'
            )
    }) {
        return Err(format!("contains {}", describe(c)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revs_accept_real_ones_and_reject_injection() {
        for ok in [
            "v1.3.0",
            "release-1.10.0",
            "LibVNCServer-0.9.13",
            "3a0746bf5f601dfed05330aefcb6854354fce07d",
            "1.0+git",
            "feature/x",
        ] {
            assert_eq!(check_rev(ok), Ok(()), "{ok}");
        }
        for bad in [
            "v1 ",
            "a;rm -rf /",
            "$(id)",
            "`id`",
            "a'b",
            "a\"b",
            "a|b",
            "a&b",
            "a<b",
            "a>b",
            "a\nb",
            "-rf",
            "",
        ] {
            assert!(check_rev(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_need_http_and_a_known_archive() {
        assert_eq!(
            check_url("https://github.com/a/b/archive/v1.tar.gz"),
            Ok('z')
        );
        assert_eq!(check_url("http://127.0.0.1:8088/a-1.tar.bz2"), Ok('j'));
        assert!(check_url("ftp://x/a.tar.gz").is_err());
        assert!(check_url("https://x/a.zip").is_err());
        assert!(check_url("https://x/a.tar.xz").is_err());
        assert!(check_url("https://x/a.tar.gz;id").is_err());
        assert!(check_url("https://x/$(id).tar.gz").is_err());
        assert!(check_url("https:///a.tar.gz").is_err());
    }

    #[test]
    fn flags_steps_and_env() {
        assert!(check_flag("-DX=\"a b\"").is_ok());
        assert!(check_flag("-DX=1; rm -rf /").is_err());
        assert!(check_flag("-DX=\"a").is_err());
        assert!(check_flag("a\nb").is_err());
        assert!(check_step("cd tools && ./x || true").is_ok());
        assert!(check_step("echo 'x").is_err());
        assert!(check_step("echo x\\").is_err());
        assert!(check_env("CXXFLAGS=-std=c++17").is_ok());
        assert!(check_env("-std=c++17").is_err());
        assert!(check_env("1X=2").is_err());
        assert!(check_env("X=`id`").is_err());
        // A space would make the rest the command; quoted, it is one value.
        assert!(check_env("CFLAGS=-O2 -g").is_err());
        assert!(check_env("CFLAGS=\"-O2 -g\"").is_ok());
        assert!(check_env("CFLAGS='-O2 -g'").is_ok());
        assert!(check_env("CFLAGS=-O2\\ -g").is_ok());
    }

    #[test]
    fn a_hash_starting_a_word_is_a_comment_and_refused() {
        assert!(check_step("make # and the rest").is_err());
        assert!(check_step("#make").is_err());
        assert!(check_flag("-DX=1 #y").is_err());
        assert!(check_step("echo a#b").is_ok(), "inside a word");
        assert!(check_step("echo '# quoted'").is_ok());
        assert!(check_step("echo \"# quoted\"").is_ok());
        assert!(check_step("echo \\#x").is_ok(), "escaped");
        assert!(check_step("true;#x").is_err());
    }

    #[test]
    fn image_names_references_registries_and_urls() {
        for ok in [
            "openbmc/ubuntu-unit-test",
            "acme/unit",
            "localhost:5000/a/b",
            "reg.example/x__y",
        ] {
            assert_eq!(check_image_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "Acme/unit",
            "a b",
            "a\nRUN touch /pwn",
            "a:tag",
            "",
            "a//b",
            "-a",
        ] {
            assert!(check_image_name(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "ubuntu:resolute",
            "bud-debian:bookworm",
            "docker.io/library/ubuntu:24.04",
            "ubuntu:Tag_1",
            "Registry.example:5000/x:y",
        ] {
            assert_eq!(check_image_ref(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ubuntu:resolute\nRUN touch /pwn",
            "Ubuntu",
            "ubuntu:",
            "ubuntu:a b",
        ] {
            assert!(check_image_ref(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "public.ecr.aws/ubuntu",
            "docker.io",
            "127.0.0.1:5000/mirror",
        ] {
            assert_eq!(check_registry(ok), Ok(()), "{ok}");
        }
        for bad in ["docker.io\nRUN x", "a b", "", "/x"] {
            assert!(check_registry(bad).is_err(), "{bad:?}");
        }
        assert!(check_http_url("http://mirror.example/ubuntu").is_ok());
        assert!(check_http_url("http://m/u\nRUN touch /pwn").is_err());
        assert!(check_http_url("http://m/u$(id)").is_err());
        assert!(check_http_url("ftp://m/u").is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("openbmc/sdbusplus").is_ok());
        assert!(check_name("boost").is_ok());
        assert!(check_name("a/b/c").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("/b").is_err());
    }
}
