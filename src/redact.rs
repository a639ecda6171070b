//! Keeping secrets out of every output: signatures, session tokens and secret keys.

use std::borrow::Cow;

pub const REDACTED: &str = "<redacted>";

/// A header value safe to print: the signature of an `Authorization` header and the whole
/// session token are replaced; everything else is returned as is.
pub fn header_value<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if name.eq_ignore_ascii_case("x-amz-security-token") {
        return Cow::Borrowed(REDACTED);
    }
    if name.eq_ignore_ascii_case("authorization") {
        return match value.find("Signature=") {
            Some(i) => {
                let start = i + "Signature=".len();
                let end = value[start..]
                    .find([',', ' '])
                    .map_or(value.len(), |e| start + e);
                Cow::Owned(format!("{}{}{}", &value[..start], REDACTED, &value[end..]))
            }
            None => Cow::Borrowed(REDACTED),
        };
    }
    Cow::Borrowed(value)
}

/// Replace every occurrence of the given secrets in `text`.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// Longest server message printed; the rest is cut with its length said.
pub const MAX_SERVER_TEXT: usize = 1000;

/// Text a server sent (error messages, echoed headers) made safe to print: signatures and
/// session tokens it echoes are replaced, control characters and ANSI escapes are shown
/// escaped (newlines and tabs kept), and anything past [`MAX_SERVER_TEXT`] characters is cut.
pub fn server_text(text: &str) -> String {
    let secrets_out = secrets_in_text(text);
    let mut out = String::with_capacity(secrets_out.len().min(MAX_SERVER_TEXT + 64));
    let total = secrets_out.chars().count();
    let cut = secrets_out
        .char_indices()
        .nth(MAX_SERVER_TEXT)
        .map_or(secrets_out.len(), |(i, _)| i);
    out.push_str(&crate::output::printable(&secrets_out[..cut], true));
    if cut < secrets_out.len() {
        out.push_str(&format!("… [{total} characters in all]"));
    }
    out
}

/// `Signature=<hex>` anywhere, and the value of an `x-amz-security-token` header or query
/// parameter, replaced.
fn secrets_in_text(text: &str) -> String {
    let mut out = text.to_string();
    for (marker, stop) in [
        ("Signature=", &[',', ' ', '\'', '"', '\n', '&'][..]),
        ("x-amz-security-token:", &['\n', '\'', '"'][..]),
        ("X-Amz-Security-Token=", &['&', ' ', '\'', '"', '\n'][..]),
    ] {
        let mut from = 0;
        while let Some(i) = out[from..]
            .to_ascii_lowercase()
            .find(&marker.to_ascii_lowercase())
        {
            let start = from + i + marker.len();
            let end = out[start..]
                .find(|c: char| stop.contains(&c))
                .map_or(out.len(), |e| start + e);
            if out[start..end] != *REDACTED {
                out.replace_range(start..end, REDACTED);
            }
            from = start + REDACTED.len().min(out.len() - start);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_safe() {
        let echo = "Authorization=AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=0123abcd\nx-amz-security-token:FQoGZXIvYXdz\nend";
        let t = server_text(echo);
        assert!(
            !t.contains("0123abcd") && !t.contains("FQoGZXIvYXdz"),
            "{t}"
        );
        assert!(
            t.contains("Signature=<redacted>") && t.ends_with("\nend"),
            "{t}"
        );
        assert_eq!(server_text("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        let long = "x".repeat(5000);
        let t = server_text(&long);
        assert!(
            t.len() < 1100 && t.ends_with("[5000 characters in all]"),
            "{}",
            t.len()
        );
    }

    #[test]
    fn redacts_signature_and_token() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/svc/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef0123";
        let r = header_value("Authorization", auth);
        assert!(r.ends_with("Signature=<redacted>"), "{r}");
        assert!(r.contains("Credential=AKID/"));
        assert_eq!(header_value("X-Amz-Security-Token", "tok"), REDACTED);
        assert_eq!(header_value("content-type", "a/b"), "a/b");
        assert_eq!(header_value("authorization", "Basic xyz"), REDACTED);
        assert_eq!(scrub("key=SECRETKEY!", &["SECRETKEY"]), "key=<redacted>!");
    }
}
