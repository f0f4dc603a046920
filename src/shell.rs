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
    check_quoting(s)
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
    check_flag(s)
}

/// A value from the environment put into the final stage (user name,
/// home directory, proxy): no quotes, no shell operators, one line.
pub fn check_plain(s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                '\'' | '"' | '`' | '$' | ';' | '&' | '|' | '<' | '>' | '\\' | ' '
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
