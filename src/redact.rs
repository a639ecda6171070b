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

#[cfg(test)]
mod tests {
    use super::*;

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
