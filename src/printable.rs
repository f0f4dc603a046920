//! Text from elsewhere made safe to show on a terminal: what a child
//! printed (the engine's build output, a registry's, git's, curl's or
//! Gerrit's error text) and anything quoted from it.
//!
//! Owns: the one rule for it. Escape sequences (CSI colours and cursor
//! moves, OSC titles and links, DCS and the other strings) are removed
//! whole, by a real terminal parser (`strip-ansi-escapes`, on `vte`); so
//! are every other control character (C0, DEL, C1: a bell, a backspace, a
//! carriage return that would overwrite the line) except newline and tab.
//! Invalid UTF-8 becomes U+FFFD. Must not: print, or decide where text goes.

/// `bytes` as text that cannot move the cursor, retitle the terminal or
/// hide what it says: see the module head.
pub fn printable(bytes: &[u8]) -> String {
    printable_str(&String::from_utf8_lossy(bytes))
}

/// [`printable`] of a string.
pub fn printable_str(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_owned();
    }
    // The parser drops tabs; they are kept, each piece stripped alone.
    text.split('\t')
        .map(|piece| {
            strip_ansi_escapes::strip_str(piece)
                .chars()
                .filter(|c| !c.is_control() || *c == '\n')
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_go_whole() {
        assert_eq!(printable_str("a\u{1b}]0;title\u{7}b"), "ab", "OSC with BEL");
        assert_eq!(
            printable_str("a\u{1b}]0;title\u{1b}\\b"),
            "ab",
            "OSC with ST"
        );
        assert_eq!(
            printable_str("\u{1b}[0m\u{1b}[91mERROR\u{1b}[0m: x"),
            "ERROR: x"
        );
        assert_eq!(printable_str("a\u{1b}Pq#0;2\u{1b}\\b"), "ab", "DCS");
        assert_eq!(printable_str("end\u{1b}"), "end", "a lone ESC");
        assert_eq!(
            printable_str("\u{1b}]8;;http://evil/\u{7}click\u{1b}]8;;\u{7}"),
            "click",
            "a hidden link"
        );
    }

    #[test]
    fn other_controls_go_newlines_and_tabs_stay() {
        assert_eq!(
            printable_str("bell\u{7} bs\u{8}\u{8} cr\r del\u{7f} c1\u{9b}2J nul\0"),
            "bell bs cr del c12J nul"
        );
        assert_eq!(printable_str("a\tb\nc\td"), "a\tb\nc\td");
        assert_eq!(printable_str("a\t\u{1b}[1mb\u{1b}[0m\tc"), "a\tb\tc");
        assert_eq!(printable_str("plain [text] ünï"), "plain [text] ünï");
        assert_eq!(printable(b"bad \xff utf8"), "bad \u{fffd} utf8");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Whatever a child prints, nothing that reaches the terminal can
        /// drive it, the rule is stable, and plain text is kept as it is.
        #[test]
        fn no_control_character_survives(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::sample::select(vec![0x1b_u8, b'[', b']', b'P', b'\\', 7, b'\t', b'\n', b'\r', b';']),
                ],
                0..200,
            ),
            plain in "[ -~\t\nä€]{0,80}",
        ) {
            let out = printable(&bytes);
            proptest::prop_assert!(
                !out.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{out:?}"
            );
            proptest::prop_assert_eq!(printable_str(&out), out.clone(), "idempotent");
            proptest::prop_assert_eq!(printable_str(&plain), plain);
        }
    }
}
