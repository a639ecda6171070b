//! How results are printed.

/// `-o human|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// `s` safe to print on a terminal: control characters (ANSI escape sequences start with
/// one, ESC) are shown escaped, `\x1b` as `\u{1b}`, so text from a file or a server cannot
/// move the cursor, recolour or retitle the terminal. With `keep_lines`, newlines and tabs stay
/// as they are (a server's multi-line message); without, they are escaped too (`\n`, `\t`,
/// `\r`: one line per message).
pub fn printable(s: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    let kept = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !s.chars().any(|c| c.is_control() && !kept(c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && !kept(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `s` as the content of a JSON string (without the quotes): borrowed when nothing needs
/// escaping, as for validated feature rows.
pub fn json_escaped(s: &str) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    if !s
        .chars()
        .any(|c| c == '"' || c == '\\' || (c as u32) < 0x20)
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_controls_and_keeps_lines_when_asked() {
        assert!(matches!(
            printable("plain", false),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            printable("a\u{1b}[2Jb\r\n\tc", false),
            "a\\u{1b}[2Jb\\r\\n\\tc"
        );
        assert_eq!(
            printable("a\u{1b}[2Jb\r\n\tc", true),
            "a\\u{1b}[2Jb\\r\n\tc"
        );
        assert!(matches!(
            printable("two\nlines", true),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
